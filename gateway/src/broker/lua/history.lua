-- history: read a topic's stream and its position in one step, so the position handed to a
-- joining client and the messages read belong together.
-- KEYS[1]  stream   P history:<topic>
-- KEYS[2]  meta     P history-meta:<topic>
-- ARGV[1]  'since' | 'last'
-- ARGV[2]  since: the client's offset; last: how many messages (0: the position only)
-- ARGV[3]  since: the client's epoch ('' = take the current one)
-- ARGV[4]  since: most messages returned
-- ARGV[5]  the topic's age policy in ms (lifetime of a meta created by this read)
-- Returns { epoch, top, recovered 0|1, { {id, {field, value...}}... } }. Not recovered when
-- the epoch differs, or messages after `since` were trimmed (since < floor), or `since` lies
-- beyond the stream's end; then no messages.
local epoch, top, floor = meta_of(KEYS[1], KEYS[2], tonumber(ARGV[5]))
if ARGV[1] == 'last' then
  local n = tonumber(ARGV[2])
  if n <= 0 then return { epoch, top, 1, {} } end
  return { epoch, top, 1, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', n) }
end
local since = ARGV[2]
if (ARGV[3] ~= '' and ARGV[3] ~= epoch) or id_cmp(since, floor) < 0 or id_cmp(since, top) > 0 then
  return { epoch, top, 0, {} }
end
return { epoch, top, 1, redis.call('XRANGE', KEYS[1], '(' .. since, '+', 'COUNT', tonumber(ARGV[4])) }
