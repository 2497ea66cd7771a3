-- The deliverer's read of the event stream, as one consumer group, in one atomic step.
--   KEYS[1] P events           STREAM written by the presence scripts
--   ARGV[1] consumer group name
--   ARGV[2] consumer name (the node id)
--   ARGV[3] most entries to return
-- Returns { created, gap_after, gap_through, pending, entries } where
--   created      1 when this call created the group (a new or recreated stream), else 0;
--   gap_after / gap_through  '' or the bounds of entries trimmed before the group read them:
--                after the first (exclusive), before the second (exclusive; the oldest retained
--                entry, or a trimmed pending entry's id, inclusive, from step 1);
--   pending      1 when the entries were taken over from the group's pending list, else 0;
--   entries      { {id, {field, value, ...}}, ... } in stream order.
-- Pending entries (handed out, never acknowledged: a crashed or replaced deliverer) come first,
-- so nothing handed out is skipped; pending entries trimmed meanwhile are reported as a gap.
local STREAM, GROUP, CONSUMER, COUNT = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])

local function id_parts(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function id_less(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local function field(list, name)
  for i = 1, #list, 2 do
    if list[i] == name then return list[i + 1] end
  end
  return nil
end

local created = 0
local ok = pcall(redis.call, 'XGROUP', 'CREATE', STREAM, GROUP, '0', 'MKSTREAM', 'ENTRIESREAD', 0)
if ok then created = 1 end

-- 1. Entries some deliverer took and never acknowledged (XAUTOCLAIM drops trimmed ones from
--    the pending list and names them).
local claimed = redis.call('XAUTOCLAIM', STREAM, GROUP, CONSUMER, 0, '0-0', 'COUNT', COUNT)
local deleted = claimed[3] or {}
if #claimed[2] > 0 or #deleted > 0 then
  local low, high = '', ''
  for _, id in ipairs(deleted) do
    if low == '' or id_less(id, low) then low = id end
    if high == '' or id_less(high, id) then high = id end
  end
  local entries = {}
  for _, e in ipairs(claimed[2]) do
    if e[2] then entries[#entries + 1] = e end
  end
  return { created, low, high, 1, entries }
end

-- 2. Entries trimmed (MAXLEN) before the group read them: a gap, reported once. Trimming
--    removes the oldest entries, so entries are missing only when the stream now starts after
--    the group's position and the group is behind by more entries than the stream holds
--    (`lag` counts every entry added after the group's position). The group's read counter
--    then moves past the gap, so the next call sees none.
local gap_after, gap_through = '', ''
local info = redis.call('XINFO', 'STREAM', STREAM)
local first, length, added = field(info, 'first-entry'), field(info, 'length'), field(info, 'entries-added')
for _, g in ipairs(redis.call('XINFO', 'GROUPS', STREAM)) do
  if field(g, 'name') == GROUP and first then
    local last, lag = field(g, 'last-delivered-id'), field(g, 'lag')
    local behind = id_less(last, first[1])
    if behind and ((lag and lag > length) or (not lag and last ~= '0-0')) then
      gap_after, gap_through = last, first[1]
    end
    if behind and (gap_through ~= '' or not lag) then
      redis.call('XGROUP', 'SETID', STREAM, GROUP, last, 'ENTRIESREAD', added - length)
    end
  end
end

-- 3. New entries.
local read = redis.call('XREADGROUP', 'GROUP', GROUP, CONSUMER, 'COUNT', COUNT, 'STREAMS', STREAM, '>')
local entries = {}
if read and read[1] then entries = read[1][2] end
return { created, gap_after, gap_through, 0, entries }
