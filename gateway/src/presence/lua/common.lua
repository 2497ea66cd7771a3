-- Prelude prepended to every presence script at load time (see ../redis.ts); not run on its own.
-- Every script shares this calling convention:
--   KEYS[1] P online_users     SET   user ids online anywhere
--   KEYS[2] P presence:counts  HASH  userId -> open connections cluster-wide
--   KEYS[3] P presence:seq     STRING incremented once per published event
--   KEYS[4] P presence:nodes   ZSET  nodeId -> lease expiry (ms, Redis TIME)
--   ARGV[1] key prefix P; node and action keys are built from it here
--   ARGV[2] event channel (P presence)
--   ARGV[3] this node's id
-- Redis Cluster: keys built from ARGV are not declared, so P must carry a hash tag
-- (e.g. '{gw}') putting every key in one slot.
local P, CHANNEL, NODE = ARGV[1], ARGV[2], ARGV[3]
local K_ONLINE, K_COUNTS, K_SEQ, K_NODES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A node's account: counts (userId -> n), usernames (userId -> name), members index.
local function node_keys(id)
  local base = P .. 'presence:node:' .. id
  return base, base .. ':usernames', base .. ':members'
end

local function action_key(action)
  return P .. 'action:' .. action .. ':members'
end

-- Adds delta to the user's cluster-wide counter, clamped at zero, keeps online_users
-- equal to {counter > 0} and appends the 0 <-> positive transition (if any) to changes.
local function add_count(changes, ts, uid, uname, delta)
  local old = tonumber(redis.call('HGET', K_COUNTS, uid) or '0')
  local new = old + delta
  if new > 0 then
    redis.call('HSET', K_COUNTS, uid, new)
    redis.call('SADD', K_ONLINE, uid)
    if old <= 0 then
      changes[#changes + 1] = { userId = uid, username = uname, status = 'online', ts = ts }
    end
  else
    redis.call('HDEL', K_COUNTS, uid)
    redis.call('SREM', K_ONLINE, uid)
    if old > 0 then
      changes[#changes + 1] = { userId = uid, username = uname, status = 'offline', ts = ts }
    end
  end
end

-- Removes every membership listed in a node's index ("<action>\n<connectionId>"), then the index.
local function drop_memberships(members_key)
  for _, entry in ipairs(redis.call('SMEMBERS', members_key)) do
    local i = string.find(entry, '\n', 1, true)
    if i then
      redis.call('SREM', action_key(string.sub(entry, 1, i - 1)), string.sub(entry, i + 1))
    end
  end
  redis.call('DEL', members_key)
end

-- Publishes one event carrying all changes, atomically with them; nothing when there are none.
local function publish(changes)
  if #changes == 0 then return end
  local seq = redis.call('INCR', K_SEQ)
  redis.call('PUBLISH', CHANNEL, cjson.encode({ seq = seq, changes = changes }))
end
