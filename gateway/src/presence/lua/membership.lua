-- membership: a connection of this node joins or leaves an action.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] 'join' | 'leave'
-- ARGV[6] action
-- ARGV[7] connectionId
-- ARGV[8] userId
-- ARGV[9] username
-- The node's index entry makes it idempotent: a repeated join or leave changes nothing. The
-- user's count in the room moves with it; its first connection there publishes `joined`, its
-- last `left`, on the room's channel, in this same step. Returns 1 when something changed.
local op, action, conn, uid, uname = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
REASON = op
local _, _, km = node_keys(NODE)
local entry = entry_of(action, uid, conn)
local rooms = {}
if op == 'join' then
  if redis.call('SADD', km, entry) == 0 then return 0 end
  add_room(rooms, now_ms(), action, uid, 1, uname)
else
  if redis.call('SREM', km, entry) == 0 then return 0 end
  add_room(rooms, now_ms(), action, uid, -1, uname)
end
publish_rooms(rooms)
return 1
