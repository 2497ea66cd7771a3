-- peek: the size of the online set, the presence seq it is consistent with, and the whole set
-- when it holds at most ARGV[5] ids.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] most ids to return (0: none)
-- Returns { seq, onlineCount, { userId... } } (the list empty when the set is larger).
local limit = tonumber(ARGV[5] or '0')
local count = redis.call('SCARD', K_ONLINE)
local ids = {}
if count > 0 and count <= limit then ids = redis.call('SMEMBERS', K_ONLINE) end
return { tonumber(redis.call('GET', K_SEQ) or '0'), count, ids }
