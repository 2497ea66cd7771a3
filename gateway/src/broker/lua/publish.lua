-- publish: append a message to a topic's history and publish it to every node, atomically,
-- so the stream's order is the order every node receives.
-- KEYS[1]  stream   P history:<topic>        entries: p = payload (sharded: P history:{<topic>})
-- KEYS[2]  meta     P history-meta:<topic>   HASH epoch, top (last id), floor (highest trimmed id)
-- ARGV[1]  channel  the topic's channel (../names.ts names it)
-- ARGV[2]  payload  as the publisher passed it
-- ARGV[3]  count    keep at most this many messages
-- ARGV[4]  age      keep none older than this many ms (also the keys' TTL)
-- ARGV[5]  command  'PUBLISH', or 'SPUBLISH' on a Redis Cluster: there the channel and both
--                   keys carry the topic as hash tag, so all three share this script's slot
-- Publishes '*<offset> <prev> <epoch>\n<payload>': the '*' origin is no node's id, so every
-- subscribed node relays it, the publisher's own included. Returns { offset, epoch }.
local count, age = tonumber(ARGV[3]), tonumber(ARGV[4])
if ARGV[5] ~= 'PUBLISH' and ARGV[5] ~= 'SPUBLISH' then return redis.error_reply('ERR publish command must be PUBLISH or SPUBLISH') end
local epoch, prev, floor = meta_of(KEYS[1], KEYS[2], age)
local offset = redis.call('XADD', KEYS[1], '*', 'p', ARGV[2])
local len = redis.call('XLEN', KEYS[1])
if len > count then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - count)
  floor = gone[#gone][1]
  redis.call('XTRIM', KEYS[1], 'MAXLEN', count)
end
local t = redis.call('TIME')
local min_id = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - age) .. '-0'
local old = redis.call('XREVRANGE', KEYS[1], '(' .. min_id, '-', 'COUNT', 1)
if #old > 0 then
  if id_cmp(old[1][1], floor) > 0 then floor = old[1][1] end
  redis.call('XTRIM', KEYS[1], 'MINID', min_id)
end
redis.call('HSET', KEYS[2], 'epoch', epoch, 'top', offset, 'floor', floor)
redis.call('PEXPIRE', KEYS[1], age)
redis.call('PEXPIRE', KEYS[2], age)
redis.call(ARGV[5], ARGV[1], '*' .. offset .. ' ' .. prev .. ' ' .. epoch .. '\n' .. ARGV[2])
return { offset, epoch }
