-- membership: add or remove a connection of this node in an action's member set.
-- KEYS[1..4], ARGV[1..3]: see common.lua
-- ARGV[4] 'join' | 'leave'
-- ARGV[5] action
-- ARGV[6] connectionId
-- The node's members index mirrors the action sets so reap/sync can undo them.
local _, _, km = node_keys(NODE)
local op = ARGV[4] == 'join' and 'SADD' or 'SREM'
redis.call(op, action_key(ARGV[5]), ARGV[6])
redis.call(op, km, ARGV[5] .. '\n' .. ARGV[6])
return 1
