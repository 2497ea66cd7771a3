-- members: a page of an action's members, with its member count and the room seq the page is
-- consistent with (room events with a higher seq are newer than the page).
-- KEYS[1..4], ARGV[1..3]: see common.lua
-- ARGV[4] action
-- ARGV[5] HSCAN cursor ('0' starts)
-- ARGV[6] skip: entries of that HSCAN reply already handed out
-- ARGV[7] page size
-- Returns { seq, count, nextCursor, nextSkip, { userId, username, ... } }: nextCursor '0' with
-- nextSkip 0 means done. HSCAN guarantees a member present for the whole walk is returned
-- (possibly twice); small hashes come back whole from one HSCAN and are paged by skip.
local key, limit = room_key(ARGV[4]), tonumber(ARGV[7])
local reply = redis.call('HSCAN', key, ARGV[5], 'COUNT', limit)
local fields, skip = reply[2], tonumber(ARGV[6])
local out, taken = {}, 0
for i = 2 * skip + 1, #fields, 2 do
  if taken == limit then break end
  local uid = fields[i]
  out[#out + 1] = uid
  out[#out + 1] = redis.call('HGET', K_NAMES, uid) or uid
  taken = taken + 1
end
local next_cursor, next_skip = reply[1], 0
if skip + taken < #fields / 2 then next_cursor, next_skip = ARGV[5], skip + taken end
return { tonumber(redis.call('GET', K_ROOM_SEQ) or '0'), redis.call('HLEN', key), next_cursor, next_skip, out }
