#!lua
-- Check-and-append of one batch, atomically (Eddy, docs/STORAGE.md).
-- The shebang makes Redis 7 refuse the whole script up front when out of memory, rather than
-- failing half-way through the batch.
--
-- KEYS: 1 events stream, 2 dedupe hash, 3 ids hash, 4 versions hash, 5 eddy:streams,
--       6.. one subject index per distinct subject of the batch
-- ARGV: 1 stream name, 2 expected version ('' = none), 3 its subject, 4 n events,
--       then per event: dedupe field, id, source, subject key index (0 = no subject),
--       subject, structured JSON
-- Reply: {'conflict', current version} or {'ok', position, duplicate('1'|'0'), ...}
local n = tonumber(ARGV[4])
local stored = {}
local first = {}
local fresh = 0
for i = 1, n do
  local field = ARGV[4 + (i - 1) * 6 + 1]
  local position = redis.call('HGET', KEYS[2], field)
  if position then
    stored[i] = position
  elseif first[field] == nil then
    first[field] = i
    fresh = fresh + 1
  end
end

-- A batch of duplicates only is a retry of an append that happened: no version check.
if ARGV[2] ~= '' and fresh > 0 then
  local current = redis.call('HGET', KEYS[4], ARGV[3]) or '0'
  if current ~= ARGV[2] then
    return {'conflict', current}
  end
end

local function pad(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

local reply = {'ok'}
local assigned = {}
for i = 1, n do
  local b = 4 + (i - 1) * 6
  local field, id, source = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local subject_key, subject, json = tonumber(ARGV[b + 4]), ARGV[b + 5], ARGV[b + 6]
  local position, duplicate
  if stored[i] then
    position, duplicate = stored[i], '1'
  elseif first[field] ~= i then
    position, duplicate = assigned[first[field]], '1'
  else
    if subject_key > 0 then
      position = redis.call('XADD', KEYS[1], '*',
        'id', id, 'source', source, 'subject', subject, 'event', json)
      redis.call('ZADD', KEYS[subject_key], 0, pad(position))
      redis.call('HINCRBY', KEYS[4], subject, 1)
    else
      position = redis.call('XADD', KEYS[1], '*', 'id', id, 'source', source, 'event', json)
    end
    redis.call('HSET', KEYS[2], field, position)
    redis.call('HSETNX', KEYS[3], id, position)
    assigned[i] = position
    duplicate = '0'
  end
  reply[#reply + 1] = position
  reply[#reply + 1] = duplicate
end
redis.call('SADD', KEYS[5], ARGV[1])
return reply
