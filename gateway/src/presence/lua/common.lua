-- Prelude prepended to every presence script at load time (see ../redis.ts); not run on its own.
-- Every script shares this calling convention:
--   KEYS[1] P online_users     SET   user ids online anywhere
--   KEYS[2] P presence:counts  HASH  userId -> open connections cluster-wide
--   KEYS[3] P presence:seq     STRING incremented once per published online/offline event
--   KEYS[4] P presence:nodes   ZSET  nodeId -> lease expiry (ms, Redis TIME)
--   ARGV[1] key prefix P; node, action and room keys are built from it here
--   ARGV[2] event channel (P presence)
--   ARGV[3] this node's id
--   ARGV[4] event stream length (XADD MAXLEN ~; 0 = no event stream)
-- Keys built from P (not declared; Redis Cluster needs P to carry a hash tag such as '{gw}'):
--   P presence:node:<id>            HASH  userId -> this node's connections
--   P presence:node:<id>:usernames  HASH  userId -> username
--   P presence:node:<id>:members    SET   "<action>\n<userId>\n<connectionId>", one per membership
--   P presence:names                HASH  userId -> username, while the user is online
--   P members:<action>              HASH  userId -> the user's connections in the action, cluster-wide
--   P member-names:<action>         HASH  userId -> username, for the members of the action
--   P actions                       ZSET  action -> members (users); an action is here while it has one
--   P presence:room-seq             STRING incremented once per published room event
--   channel P room:<action>         JSON {seq, changes:[{userId, username, status: joined|left, ts}]}
--   P events                        STREAM one entry per transition published here (below)
-- PUBCMD (set by ../redis.ts above this prelude): 'PUBLISH', or 'SPUBLISH' for partitioned
-- presence on a Redis Cluster (the channels carry P's hash tag, so they are in this slot).
local P, CHANNEL, NODE, EVENTS_MAXLEN = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local K_ONLINE, K_COUNTS, K_SEQ, K_NODES = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_NAMES, K_ACTIONS, K_ROOM_SEQ = P .. 'presence:names', P .. 'actions', P .. 'presence:room-seq'
local K_EVENTS = P .. 'events'
-- What the event stream records for the transitions of this step: why (each script sets its
-- reason) and whose connection caused them (this node, or the dead node reap settles).
local REASON, EVENT_NODE = 'change', NODE

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A node's account: counts (userId -> n), usernames (userId -> name), memberships index.
local function node_keys(id)
  local base = P .. 'presence:node:' .. id
  return base, base .. ':usernames', base .. ':members'
end

local function room_key(action)
  return P .. 'members:' .. action
end

-- Usernames are kept per room, not read from presence:names: with partitioned presence
-- (docs/SCALING.md) a room's keys and its members' online state live in different slots.
local function room_names_key(action)
  return P .. 'member-names:' .. action
end

-- A membership index entry and its parts (user ids may hold anything but the connection id
-- and the action hold no newline, so the first and last newlines split it).
local function entry_of(action, uid, conn)
  return action .. '\n' .. uid .. '\n' .. conn
end
local function parse_entry(entry)
  local first = string.find(entry, '\n', 1, true)
  local last = first
  while true do
    local nxt = string.find(entry, '\n', last + 1, true)
    if not nxt then break end
    last = nxt
  end
  return string.sub(entry, 1, first - 1), string.sub(entry, first + 1, last - 1)
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
      redis.call('HSET', K_NAMES, uid, uname)
      changes[#changes + 1] = { userId = uid, username = uname, status = 'online', ts = ts, node = EVENT_NODE }
    end
  else
    redis.call('HDEL', K_COUNTS, uid)
    redis.call('SREM', K_ONLINE, uid)
    redis.call('HDEL', K_NAMES, uid)
    if old > 0 then
      changes[#changes + 1] = { userId = uid, username = uname, status = 'offline', ts = ts, node = EVENT_NODE }
    end
  end
end

-- Sets the user's count in an action's room (absent at 0), keeps the actions index and the
-- room's usernames, and appends the joined/left transition (if any) to rooms[action].
-- uname: the user's name when the caller knows it; else the room's, presence:names, or the id.
local function set_room(rooms, ts, action, uid, new, uname)
  local key = room_key(action)
  local old = tonumber(redis.call('HGET', key, uid) or '0')
  if new > 0 then redis.call('HSET', key, uid, new) else redis.call('HDEL', key, uid) end
  if (old > 0) == (new > 0) then return end
  local users = redis.call('HLEN', key)
  if users > 0 then redis.call('ZADD', K_ACTIONS, users, action) else redis.call('ZREM', K_ACTIONS, action) end
  local names = room_names_key(action)
  if new > 0 then
    uname = uname or redis.call('HGET', K_NAMES, uid) or uid
    redis.call('HSET', names, uid, uname)
  else
    uname = redis.call('HGET', names, uid) or uname or uid
    redis.call('HDEL', names, uid)
  end
  local list = rooms[action]
  if not list then
    list = {}
    rooms[action] = list
    rooms[#rooms + 1] = action
  end
  list[#list + 1] = { userId = uid, username = uname, status = new > 0 and 'joined' or 'left', ts = ts, node = EVENT_NODE }
end

local function add_room(rooms, ts, action, uid, delta, uname)
  local old = tonumber(redis.call('HGET', room_key(action), uid) or '0')
  set_room(rooms, ts, action, uid, math.max(0, old + delta), uname)
end

-- Removes every membership listed in a node's index, then the index. Room transitions go to rooms.
local function drop_memberships(rooms, ts, members_key)
  for _, entry in ipairs(redis.call('SMEMBERS', members_key)) do
    local action, uid = parse_entry(entry)
    add_room(rooms, ts, action, uid, -1)
  end
  redis.call('DEL', members_key)
end

-- Appends one transition to the event stream, in the step that made it: the stream holds
-- every transition published, none other, in the order they happened.
local function record(change, seq, action)
  if EVENTS_MAXLEN <= 0 then return end
  local fields = { 'type', change.status, 'userId', change.userId, 'username', change.username }
  if action then
    fields[#fields + 1] = 'action'
    fields[#fields + 1] = action
  end
  -- Every field has a value: an error here would come after the script's writes.
  for _, f in ipairs({ 'node', change.node or EVENT_NODE, 'reason', REASON, 'ts', change.ts, 'seq', seq }) do fields[#fields + 1] = f end
  redis.call('XADD', K_EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*', unpack(fields))
end

-- What subscribers get of a change (the node stays in the stream).
local function public(changes, seq, action)
  local out = {}
  for i, c in ipairs(changes) do
    record(c, seq, action)
    out[i] = { userId = c.userId, username = c.username, status = c.status, ts = c.ts }
  end
  return out
end

-- Publishes one event carrying all changes, atomically with them; nothing when there are none.
local function publish(changes)
  if #changes == 0 then return end
  local seq = redis.call('INCR', K_SEQ)
  redis.call(PUBCMD, CHANNEL, cjson.encode({ seq = seq, changes = public(changes, seq) }))
end

-- One room event per action that changed, each with its own room seq.
local function publish_rooms(rooms)
  for _, action in ipairs(rooms) do
    local seq = redis.call('INCR', K_ROOM_SEQ)
    redis.call(PUBCMD, P .. 'room:' .. action, cjson.encode({ seq = seq, changes = public(rooms[action], seq, action) }))
  end
end
