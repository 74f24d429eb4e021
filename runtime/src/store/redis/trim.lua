#!lua
-- Trims the oldest entries of a stream, never one a consumer group has not acknowledged, and
-- forgets their dedupe, id and subject index entries. Removes at most ARGV[3] entries per call.
--
-- KEYS: 1 events stream, 2 dedupe hash, 3 ids hash
-- ARGV: 1 'maxlen' | 'maxage', 2 the length to keep | the age in ms, 3 batch limit,
--       4 subject index key prefix
-- Reply: {removed, held (1 if a group stopped the trim)}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, 0}
end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function pad(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

-- The oldest entry some group still needs: its oldest pending entry, or the first entry it
-- has not been delivered yet.
local safe = nil
local function consider(id)
  if safe == nil or less(id, safe) then safe = id end
end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local after = redis.call('XRANGE', KEYS[1], '(' .. info['last-delivered-id'], '+', 'COUNT', 1)
  if #after > 0 then consider(after[1][1]) end
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    consider(summary[2])
  end
end

local limit = tonumber(ARGV[3])
local entries
if ARGV[1] == 'maxlen' then
  local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
  if excess <= 0 then return {0, 0} end
  entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', math.min(excess, limit))
else
  -- The server's clock assigned the ids, so the server's clock decides their age.
  local now = redis.call('TIME')
  local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
  if cutoff <= 0 then return {0, 0} end
  entries = redis.call('XRANGE', KEYS[1], '-', '(' .. string.format('%d', cutoff) .. '-0',
    'COUNT', limit)
end

local removed, held, last = 0, 0, nil
for _, entry in ipairs(entries) do
  local id = entry[1]
  if safe ~= nil and not less(id, safe) then
    held = 1
    break
  end
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  if f['source'] and f['id'] then
    redis.call('HDEL', KEYS[2], f['source'] .. '\0' .. f['id'])
    if redis.call('HGET', KEYS[3], f['id']) == id then
      redis.call('HDEL', KEYS[3], f['id'])
    end
  end
  if f['subject'] then
    redis.call('ZREM', ARGV[4] .. f['subject'], pad(id))
  end
  last = id
  removed = removed + 1
end
if last then
  local ms, seq = parse(last)
  redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', ms, seq + 1))
end
return {removed, held}
