-- disconnect: one connection fewer of a user on this node; drops the connection's memberships.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] userId
-- ARGV[6] username
-- ARGV[7] connectionId
-- ARGV[8..] actions the connection had joined
-- The global counter moves only when this node's account holds a connection of the user,
-- so a repeated close (or a close after this node was reaped) changes nothing. Memberships
-- leave first (their `left` events, then the `offline` one).
-- Returns 1 when the user went offline, else 0.
REASON = 'disconnect'
local uid, uname, conn = ARGV[5], ARGV[6], ARGV[7]
local kc, ku, km = node_keys(NODE)
local ts = now_ms()
local rooms = {}
for i = 8, #ARGV do
  if redis.call('SREM', km, entry_of(ARGV[i], uid, conn)) == 1 then add_room(rooms, ts, ARGV[i], uid, -1, uname) end
end
publish_rooms(rooms)
local mine = tonumber(redis.call('HGET', kc, uid) or '0')
if mine <= 0 then return 0 end
if mine == 1 then
  redis.call('HDEL', kc, uid)
  redis.call('HDEL', ku, uid)
else
  redis.call('HINCRBY', kc, uid, -1)
end
local changes = {}
add_count(changes, ts, uid, uname, -1)
publish(changes)
return #changes
