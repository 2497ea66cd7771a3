-- members: a page of an action's members, with its member count and the room seq the page is
-- consistent with (room events with a higher seq are newer than the page).
-- KEYS[1..4], ARGV[1..4]: see common.lua
-- ARGV[5] action
-- ARGV[6] HSCAN cursor ('0' starts)
-- ARGV[7] skip: entries of that HSCAN reply already handed out
-- ARGV[8] page size
-- Returns { seq, count, nextCursor, nextSkip, { userId, username, ... } }: nextCursor '0' with
-- nextSkip 0 means done. HSCAN guarantees a member present for the whole walk is returned
-- (possibly twice); small hashes come back whole from one HSCAN and are paged by skip.
local key, limit = room_key(ARGV[5]), tonumber(ARGV[8])
local reply = redis.call('HSCAN', key, ARGV[6], 'COUNT', limit)
local fields, skip = reply[2], tonumber(ARGV[7])
local out, taken = {}, 0
for i = 2 * skip + 1, #fields, 2 do
  if taken == limit then break end
  local uid = fields[i]
  out[#out + 1] = uid
  out[#out + 1] = redis.call('HGET', room_names_key(ARGV[5]), uid) or uid
  taken = taken + 1
end
local next_cursor, next_skip = reply[1], 0
if skip + taken < #fields / 2 then next_cursor, next_skip = ARGV[6], skip + taken end
return { tonumber(redis.call('GET', K_ROOM_SEQ) or '0'), redis.call('HLEN', key), next_cursor, next_skip, out }
