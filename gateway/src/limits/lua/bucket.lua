-- bucket: a token bucket shared by every node (refill and check in one step, Redis TIME).
-- KEYS[1]  P limit:<name>:<key>   HASH tokens, at (ms)
-- ARGV[1]  refill rate, tokens per second
-- ARGV[2]  burst (capacity; a new bucket starts full)
-- ARGV[3]  'take' (take one token when there is one) | 'peek' (change nothing) | 'reset' (delete)
-- Returns 1 when a token was there (and, for 'take', taken), else 0. The key expires once it
-- would be full again, so idle buckets cost nothing.
if ARGV[3] == 'reset' then
  redis.call('DEL', KEYS[1])
  return 1
end
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
if tokens < 1 then return 0 end
if ARGV[3] == 'take' then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
end
return 1
