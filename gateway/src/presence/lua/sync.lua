-- sync: register this node (fresh lease) and replace its whole account in one step.
-- KEYS[1..4], ARGV[1..3]: see common.lua
-- ARGV[4] lease length in ms
-- ARGV[5] JSON [[userId, count, username], ...]   the node's connections now
-- ARGV[6] JSON [[action, connectionId], ...]      the node's memberships now
-- For each user in old account U new account the difference is applied to the global
-- counter (clamped at zero); all transitions go out as ONE event. Runs in O(account size).
-- Returns the number of changes published.
local ts = now_ms()
local kc, ku, km = node_keys(NODE)
local delta, names, order = {}, {}, {}
local old = redis.call('HGETALL', kc)
for i = 1, #old, 2 do
  local uid = old[i]
  order[#order + 1] = uid
  delta[uid] = -tonumber(old[i + 1])
  names[uid] = redis.call('HGET', ku, uid) or ''
end
redis.call('DEL', kc, ku)
for _, u in ipairs(cjson.decode(ARGV[5])) do
  local uid, n, uname = u[1], tonumber(u[2]), u[3]
  if n > 0 then
    if delta[uid] == nil then order[#order + 1] = uid; delta[uid] = 0 end
    delta[uid] = delta[uid] + n
    names[uid] = uname
    redis.call('HSET', kc, uid, n)
    redis.call('HSET', ku, uid, uname)
  end
end
local changes = {}
for _, uid in ipairs(order) do
  if delta[uid] ~= 0 then add_count(changes, ts, uid, names[uid], delta[uid]) end
end
drop_memberships(km)
for _, m in ipairs(cjson.decode(ARGV[6])) do
  redis.call('SADD', action_key(m[1]), m[2])
  redis.call('SADD', km, m[1] .. '\n' .. m[2])
end
redis.call('ZADD', K_NODES, ts + tonumber(ARGV[4]), NODE)
publish(changes)
return #changes
