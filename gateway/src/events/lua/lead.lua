-- The deliverer's lease: one node at a time delivers the event stream, so receivers see its order.
--   KEYS[1] P events:deliverer  STRING  node id of the deliverer, with a TTL
--   ARGV[1] this node's id
--   ARGV[2] lease length in ms; 0 gives the lease up (only if this node holds it)
-- Returns 1 when this node holds the lease after the call, else 0.
local KEY, NODE, TTL = KEYS[1], ARGV[1], tonumber(ARGV[2])
local holder = redis.call('GET', KEY)
if TTL <= 0 then
  if holder == NODE then redis.call('DEL', KEY) end
  return 0
end
if holder == NODE then
  redis.call('PEXPIRE', KEY, TTL)
  return 1
end
if holder then return 0 end
redis.call('SET', KEY, NODE, 'PX', TTL)
return 1
