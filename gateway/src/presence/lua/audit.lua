-- audit: measure and repair drift between the stored presence and the node accounts.
-- KEYS[1..4], ARGV[1..4]: see common.lua (no further arguments)
-- The truth is the accounts of the nodes registered in presence:nodes (expired but not
-- yet reaped ones included: reap subtracts them later).
-- Online: for every user in counts U online_users U those accounts, expected = the user's
--   connections in the accounts; the counter is set to it (HDEL at 0) and membership of
--   online_users made equal to expected > 0; users whose status changed go out as ONE event.
-- Rooms: for every (action, user) in the accounts' membership indexes U the stored rooms of
--   the actions index, expected = the user's entries in the indexes; the room count is set to
--   it, the actions index follows, and joined/left transitions go out as room events.
-- Runs in O(users + account entries + stored room members).
-- Returns a flat list { userId, expected, found, action ('' for online drift), ... }.
REASON = 'repair'
local ts = now_ms()
local expected, names, order, seen = {}, {}, {}, {}
local want_room, room_actions = {}, {}
local function note(uid)
  if not seen[uid] then
    seen[uid] = true
    order[#order + 1] = uid
  end
end
-- want_room[action][uid]: the user's entries in the registered nodes' indexes.
local function note_action(action)
  if not want_room[action] then
    want_room[action] = {}
    room_actions[#room_actions + 1] = action
  end
  return want_room[action]
end
for _, id in ipairs(redis.call('ZRANGE', K_NODES, 0, -1)) do
  local kc, ku, km = node_keys(id)
  local counts = redis.call('HGETALL', kc)
  for i = 1, #counts, 2 do
    local uid, n = counts[i], tonumber(counts[i + 1])
    if n and n > 0 then
      note(uid)
      expected[uid] = (expected[uid] or 0) + n
      names[uid] = names[uid] or redis.call('HGET', ku, uid)
    end
  end
  for _, entry in ipairs(redis.call('SMEMBERS', km)) do
    local action, uid = parse_entry(entry)
    local want = note_action(action)
    want[uid] = (want[uid] or 0) + 1
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
      redis.call('HSET', K_NAMES, uid, names[uid] or uid)
    else
      redis.call('HDEL', K_COUNTS, uid)
      redis.call('SREM', K_ONLINE, uid)
      redis.call('HDEL', K_NAMES, uid)
    end
    if was ~= (want > 0) then
      local status = want > 0 and 'online' or 'offline'
      changes[#changes + 1] = { userId = uid, username = names[uid] or uid, status = status, ts = ts, node = EVENT_NODE }
    end
    repaired[#repaired + 1] = uid
    repaired[#repaired + 1] = want
    repaired[#repaired + 1] = have
    repaired[#repaired + 1] = ''
  end
end

for _, action in ipairs(redis.call('ZRANGE', K_ACTIONS, 0, -1)) do note_action(action) end
local rooms = {}
for _, action in ipairs(room_actions) do
  local key = room_key(action)
  local have_room = {}
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do have_room[fields[i]] = tonumber(fields[i + 1]) or 0 end
  local wants = want_room[action]
  local users = {}
  for uid in pairs(have_room) do users[uid] = true end
  for uid in pairs(wants) do users[uid] = true end
  for uid in pairs(users) do
    local want, have = wants[uid] or 0, have_room[uid] or 0
    if want ~= have then
      set_room(rooms, ts, action, uid, want)
      repaired[#repaired + 1] = uid
      repaired[#repaired + 1] = want
      repaired[#repaired + 1] = have
      repaired[#repaired + 1] = action
    end
  end
  local n = redis.call('HLEN', key)
  if n > 0 then redis.call('ZADD', K_ACTIONS, n, action) else redis.call('ZREM', K_ACTIONS, action) end
end
publish(changes)
publish_rooms(rooms)
return repaired
