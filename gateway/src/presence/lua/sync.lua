-- sync: register this node (fresh lease) and replace its whole account in one step.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] lease length in ms
-- ARGV[6] JSON [[userId, count, username], ...]     the node's connections now
-- ARGV[7] JSON [[action, userId, connectionId, username], ...] the node's memberships now
-- For each user in old account U new account the difference is applied to the global
-- counter (clamped at zero), and each membership added or gone moves its room count; all
-- online/offline transitions go out as ONE event, room transitions as one event per room.
-- Runs in O(account size). Returns the number of online/offline changes published.
REASON = 'sync'
local ts = now_ms()
local kc, ku, km = node_keys(NODE)
local account = cjson.decode(ARGV[6])
-- Users of the new account are online after this step: their names are known for room events.
for _, u in ipairs(account) do
  if tonumber(u[2]) > 0 and not redis.call('HEXISTS', K_NAMES, u[1]) then redis.call('HSET', K_NAMES, u[1], u[3]) end
end

local rooms, wanted = {}, {}
for _, m in ipairs(cjson.decode(ARGV[7])) do wanted[entry_of(m[1], m[2], m[3])] = m end
for _, entry in ipairs(redis.call('SMEMBERS', km)) do
  if wanted[entry] then
    wanted[entry] = nil
  else
    local action, uid = parse_entry(entry)
    redis.call('SREM', km, entry)
    add_room(rooms, ts, action, uid, -1)
  end
end
for entry, m in pairs(wanted) do
  redis.call('SADD', km, entry)
  add_room(rooms, ts, m[1], m[2], 1, m[4])
end

local delta, names, order = {}, {}, {}
local old = redis.call('HGETALL', kc)
for i = 1, #old, 2 do
  local uid = old[i]
  order[#order + 1] = uid
  delta[uid] = -tonumber(old[i + 1])
  names[uid] = redis.call('HGET', ku, uid) or ''
end
redis.call('DEL', kc, ku)
for _, u in ipairs(account) do
  local uid, n, uname = u[1], tonumber(u[2]), u[3]
  if n > 0 then
    if delta[uid] == nil then order[#order + 1] = uid; delta[uid] = 0 end
    delta[uid] = delta[uid] + n
    names[uid] = uname
    redis.call('HSET', kc, uid, n)
    redis.call('HSET', ku, uid, uname)
  end
end
publish_rooms(rooms)
local changes = {}
for _, uid in ipairs(order) do
  if delta[uid] ~= 0 then add_count(changes, ts, uid, names[uid], delta[uid]) end
end
redis.call('ZADD', K_NODES, ts + tonumber(ARGV[5]), NODE)
publish(changes)
return #changes
