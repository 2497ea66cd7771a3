-- connect: one more connection of a user on this node, plus a snapshot of the online set.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] userId
-- ARGV[6] username
-- ARGV[7] snapshot limit (>= 0)
-- ARGV[8] most connections per user cluster-wide (0 = unlimited)
-- Returns { wentOnline 0|1, seq, onlineCount, cursor ('' = none), { userId... }, refused 0|1 }.
-- Refused (the user's counter is already >= ARGV[8]): nothing is changed or published and
-- the reply is { 0, seq, onlineCount, '', {}, 1 }.
-- The cursor is '<sscan cursor>' or '<sscan cursor>:<offset>' when one SSCAN reply held
-- more than the limit (small sets come back whole); ../redis.ts reads the same format.
REASON = 'connect'
local uid, uname, limit, max = ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
if max > 0 and tonumber(redis.call('HGET', K_COUNTS, uid) or '0') >= max then
  return { 0, tonumber(redis.call('GET', K_SEQ) or '0'), redis.call('SCARD', K_ONLINE), '', {}, 1 }
end
local kc, ku = node_keys(NODE)
redis.call('HINCRBY', kc, uid, 1)
redis.call('HSET', ku, uid, uname)
local changes = {}
add_count(changes, now_ms(), uid, uname, 1)
publish(changes)

local seq = tonumber(redis.call('GET', K_SEQ) or '0')
local total = redis.call('SCARD', K_ONLINE)
local cursor, ids = '', {}
if total <= limit then
  ids = redis.call('SMEMBERS', K_ONLINE)
elseif limit <= 0 then
  cursor = '0'
else
  local page = redis.call('SSCAN', K_ONLINE, '0', 'COUNT', limit)
  if #page[2] > limit then
    for i = 1, limit do ids[i] = page[2][i] end
    cursor = '0:' .. limit
  else
    ids = page[2]
    if page[1] ~= '0' then cursor = page[1] end
  end
end
return { #changes, seq, total, cursor, ids, 0 }
