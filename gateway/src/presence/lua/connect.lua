-- connect: one more connection on this node for each of a batch of users, in order, plus one
-- snapshot of the online set after all of them.
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] snapshot limit (>= 0)
-- ARGV[6] most connections per user cluster-wide (0 = unlimited)
-- ARGV[7..] userId, username, userId, username, ... (a user may appear more than once)
-- Returns { { outcome... }, seq, onlineCount, cursor ('' = none), { userId... } }, one outcome per
-- pair: 1 the user went online, 0 counted (already online), 2 refused (the user's counter was
-- already >= ARGV[6]: nothing changed for that pair). The online transitions of the batch are
-- published as one event (one seq), so the snapshot's seq covers every accepted pair.
-- The cursor is '<sscan cursor>' or '<sscan cursor>:<offset>' when one SSCAN reply held
-- more than the limit (small sets come back whole); ../redis.ts reads the same format.
REASON = 'connect'
local limit, max = tonumber(ARGV[5]), tonumber(ARGV[6])
local kc, ku = node_keys(NODE)
local changes, outcomes = {}, {}
local ts = now_ms()
for i = 7, #ARGV - 1, 2 do
  local uid, uname = ARGV[i], ARGV[i + 1]
  if max > 0 and tonumber(redis.call('HGET', K_COUNTS, uid) or '0') >= max then
    outcomes[#outcomes + 1] = 2
  else
    redis.call('HINCRBY', kc, uid, 1)
    redis.call('HSET', ku, uid, uname)
    local before = #changes
    add_count(changes, ts, uid, uname, 1)
    outcomes[#outcomes + 1] = #changes > before and 1 or 0
  end
end
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
return { outcomes, seq, total, cursor, ids }
