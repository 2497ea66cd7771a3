-- peek: the size of the online set and the presence seq it is consistent with.
-- KEYS[1..4], ARGV[1..4]: see common.lua (no further arguments)
-- Returns { seq, onlineCount }.
return { tonumber(redis.call('GET', K_SEQ) or '0'), redis.call('SCARD', K_ONLINE) }
