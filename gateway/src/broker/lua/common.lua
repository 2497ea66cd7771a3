-- Prelude prepended to the broker's history scripts at load time (see ../redis.ts).
-- Stream ids ("<ms>-<seq>") compared as two numbers; Lua numbers hold both exactly.
local function id_parts(id)
  local i = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, i - 1)), tonumber(string.sub(id, i + 1))
end
local function id_cmp(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  if am ~= bm then return am < bm and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end

-- The stream's meta (epoch, top, floor); a missing meta starts a new incarnation: a new
-- epoch from Redis TIME, and any stream left without its meta is dropped with it.
local function meta_of(stream, meta, age_ms)
  local m = redis.call('HMGET', meta, 'epoch', 'top', 'floor')
  if m[1] then return m[1], m[2] or '0-0', m[3] or '0-0' end
  local t = redis.call('TIME')
  local epoch = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', epoch, 'top', '0-0', 'floor', '0-0')
  redis.call('PEXPIRE', meta, age_ms)
  return epoch, '0-0', '0-0'
end
