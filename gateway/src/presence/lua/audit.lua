-- audit: measure and repair drift between the stored presence and the node accounts.
-- KEYS[1..4], ARGV[1..3]: see common.lua (no further arguments)
-- The truth is the accounts of the nodes registered in presence:nodes (expired but not
-- yet reaped ones included: reap subtracts them later). For every user in
-- counts U online_users U those accounts:
--   expected = sum of the user's connections in the accounts, found = stored counter (or 0);
--   the counter is set to expected (HDEL at 0) and membership made equal to expected > 0.
-- Users whose membership changed go out as ONE event: 'online'/'offline', the username
-- from a node's usernames hash, else the user id. Runs in O(users + account entries).
-- Returns a flat list { userId, expected, found, ... } of the users repaired (an entry
-- with expected == found means only the online set was wrong); {} when nothing drifted.
local ts = now_ms()
local expected, names, order, seen = {}, {}, {}, {}
local function note(uid)
  if not seen[uid] then
    seen[uid] = true
    order[#order + 1] = uid
  end
end
for _, id in ipairs(redis.call('ZRANGE', K_NODES, 0, -1)) do
  local kc, ku = node_keys(id)
  local counts = redis.call('HGETALL', kc)
  for i = 1, #counts, 2 do
    local uid, n = counts[i], tonumber(counts[i + 1])
    if n and n > 0 then
      note(uid)
      expected[uid] = (expected[uid] or 0) + n
      names[uid] = names[uid] or redis.call('HGET', ku, uid)
    end
  end
end
local found = {}
local stored = redis.call('HGETALL', K_COUNTS)
for i = 1, #stored, 2 do
  note(stored[i])
  found[stored[i]] = tonumber(stored[i + 1]) or 0
end
local member = {}
for _, uid in ipairs(redis.call('SMEMBERS', K_ONLINE)) do
  note(uid)
  member[uid] = true
end

local changes, repaired = {}, {}
for _, uid in ipairs(order) do
  local want, have, was = expected[uid] or 0, found[uid] or 0, member[uid] == true
  local stored_ok = (want > 0 and have == want) or (want == 0 and found[uid] == nil)
  if not stored_ok or was ~= (want > 0) then
    if want > 0 then
      redis.call('HSET', K_COUNTS, uid, want)
      redis.call('SADD', K_ONLINE, uid)
    else
      redis.call('HDEL', K_COUNTS, uid)
      redis.call('SREM', K_ONLINE, uid)
    end
    if was ~= (want > 0) then
      local status = want > 0 and 'online' or 'offline'
      changes[#changes + 1] = { userId = uid, username = names[uid] or uid, status = status, ts = ts }
    end
    repaired[#repaired + 1] = uid
    repaired[#repaired + 1] = want
    repaired[#repaired + 1] = have
  end
end
publish(changes)
return repaired
