-- nodes: the registered nodes with their lease expiry, users and connections.
-- KEYS[1..4], ARGV[1..4]: see common.lua (no further arguments)
-- Runs in O(users of all nodes). Returns a flat list { nodeId, leaseExpiresAt, users, connections, ... }.
local out = {}
local registered = redis.call('ZRANGE', K_NODES, 0, -1, 'WITHSCORES')
for i = 1, #registered, 2 do
  local kc = node_keys(registered[i])
  local connections = 0
  for _, n in ipairs(redis.call('HVALS', kc)) do connections = connections + tonumber(n) end
  out[#out + 1] = registered[i]
  out[#out + 1] = registered[i + 1]
  out[#out + 1] = redis.call('HLEN', kc)
  out[#out + 1] = connections
end
return out
