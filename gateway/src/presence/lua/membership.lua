-- membership: connections of this node join or leave actions; a batch of one op, in order.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] 'join' | 'leave'
-- ARGV[6..] action, connectionId, userId, username, action, ... (4 per change)
-- The node's index entry makes each idempotent: a repeated join or leave changes nothing. The
-- user's count in the room moves with it; its first connection there publishes `joined`, its
-- last `left`, on the room's channel, in this same step (one event per action of the batch).
-- Returns { 1|0 per change }: 1 when it changed something.
local op = ARGV[5]
REASON = op
local _, _, km = node_keys(NODE)
local rooms, outcomes = {}, {}
local ts = now_ms()
for i = 6, #ARGV - 3, 4 do
  local action, conn, uid, uname = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local entry = entry_of(action, uid, conn)
  local changed
  if op == 'join' then changed = redis.call('SADD', km, entry) else changed = redis.call('SREM', km, entry) end
  if changed == 1 then add_room(rooms, ts, action, uid, op == 'join' and 1 or -1, uname) end
  outcomes[#outcomes + 1] = changed
end
publish_rooms(rooms)
return outcomes
