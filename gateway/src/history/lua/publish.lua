-- Append a message to an action's history and publish it to every node, atomically, so the
-- stream order is the order every member receives.
-- KEYS[1]  stream  <prefix>history:<action>
-- ARGV[1]  channel <prefix>action:<action> (the broker's channel for the action)
-- ARGV[2]  head    the frame without its closing brace
-- ARGV[3]  ts      server timestamp (ms) stamped by the publishing node
-- ARGV[4]  count   keep at most this many messages
-- ARGV[5]  age     keep none older than this many ms (also the stream's TTL)
-- Returns {offset, frame}. The published envelope's origin is '*': not any node's id, so
-- every node relays it, the publisher's own included.
local offset = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], '*', 'h', ARGV[2], 't', ARGV[3])
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('XTRIM', KEYS[1], 'MINID', tostring(nowMs - tonumber(ARGV[5])))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local frame = ARGV[2] .. ',"offset":"' .. offset .. '","ts":' .. ARGV[3] .. '}'
redis.call('PUBLISH', ARGV[1], '*\n' .. frame)
return {offset, frame}
