-- reap: settle nodes whose lease expired (by Redis TIME), at most ARGV[5] per call.
-- KEYS[1..4], ARGV[1..4]: see common.lua (ARGV[3] = the caller, never reaped here)
-- ARGV[5] max nodes to settle in this call
-- Settling a node removes its memberships (room `left` events), subtracts its counts, deletes
-- its keys and removes it from presence:nodes; all offline transitions go out as ONE event.
-- Exactly once: the expiry is checked inside this script and scripts run one at a time,
-- so when several nodes reap concurrently the first settles the node and the others no
-- longer find it. Returns the settled node ids.
REASON = 'node_lost'
local ts = now_ms()
local max = tonumber(ARGV[5])
local expired = redis.call('ZRANGEBYSCORE', K_NODES, '-inf', '(' .. ts, 'LIMIT', 0, max + 1)
local changes, rooms, settled = {}, {}, {}
for _, id in ipairs(expired) do
  if id ~= NODE and #settled < max then
    EVENT_NODE = id
    local kc, ku, km = node_keys(id)
    drop_memberships(rooms, ts, km)
    local counts = redis.call('HGETALL', kc)
    for i = 1, #counts, 2 do
      local uid = counts[i]
      add_count(changes, ts, uid, redis.call('HGET', ku, uid) or '', -tonumber(counts[i + 1]))
    end
    redis.call('DEL', kc, ku)
    redis.call('ZREM', K_NODES, id)
    settled[#settled + 1] = id
  end
end
publish_rooms(rooms)
publish(changes)
return settled
