-- Check-and-append of one batch, atomically (Eddy, docs/STORAGE.md). Follows batch.lua.
--
-- KEYS: 1 events stream, 2 dedupe hash, 3 ids hash, 4 versions hash, 5 eddy:streams,
--       6.. one subject index per distinct subject of the batch
-- ARGV: 1 stream name, 2 expected version ('' = none), 3 its subject, 4 n events,
--       then 6 per event as batch.lua reads them
-- Reply: {'conflict', current version} or {'ok', position, duplicate('1'|'0'), ...}
local n = tonumber(ARGV[4])
local stored, first, fresh = plan_batch(KEYS[2], 4, n)

-- A batch of duplicates only is a retry of an append that happened: no version check.
if ARGV[2] ~= '' and fresh > 0 then
  local current = redis.call('HGET', KEYS[4], ARGV[3]) or '0'
  if current ~= ARGV[2] then
    return {'conflict', current}
  end
end

local reply = {'ok'}
write_batch({events = KEYS[1], dedupe = KEYS[2], ids = KEYS[3], versions = KEYS[4]},
  4, n, stored, first, reply)
redis.call('SADD', KEYS[5], ARGV[1])
return reply
