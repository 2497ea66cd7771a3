-- refreshLease: extend this node's lease, only while it is still registered.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] lease length in ms
-- Returns { 1, memberships } when extended (the size of this node's membership index, which
-- the node compares with its live connections), { 0, 0 } when the node is not registered
-- (reaped, or the store came back empty).
local _, _, km = node_keys(NODE)
if not redis.call('ZSCORE', K_NODES, NODE) then return { 0, 0 } end
redis.call('ZADD', K_NODES, now_ms() + tonumber(ARGV[5]), NODE)
return { 1, redis.call('SCARD', km) }
