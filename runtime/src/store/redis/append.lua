-- Check-and-append of one batch, atomically (Eddy, docs/STORAGE.md). Follows batch.lua.
--
-- KEYS: 1 events stream, 2 id hash, 3 subjects set, 4 eddy:streams,
--       5.. the index stream of each distinct subject of the batch
-- ARGV: 1 stream name, 2 expected version ('' = none; then the batch has one subject),
--       3 n events, 4 n subjects, then the subjects, then 4 per event as batch.lua reads them
-- Reply: {'conflict', current version} or {'ok', position, duplicate('1'|'0'), ...}
local subjects = tonumber(ARGV[4])
local b = {events = KEYS[1], ids = KEYS[2], subjects = KEYS[3], names = {}, index = {},
  n = tonumber(ARGV[3]), base = 4 + subjects}
for s = 1, subjects do
  b.names[s] = ARGV[4 + s]
  b.index[s] = KEYS[4 + s]
end
local plan = plan_batch(b)

-- A batch of duplicates only is a retry of an append that happened: no version check.
if ARGV[2] ~= '' and plan.fresh > 0 then
  local current = subject_version(b.index[1])
  if current ~= ARGV[2] then
    return {'conflict', current}
  end
end

local reply = {'ok'}
write_batch(b, plan, reply)
redis.call('SADD', KEYS[4], ARGV[1])
return reply
