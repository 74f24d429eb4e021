#!lua
-- Trims the oldest entries of a stream, never one a consumer group has not acknowledged, and
-- forgets their id hash and subject index entries. Removes at most ARGV[3] entries per call.
-- Subject index streams are kept even when emptied: they count the subject's version.
--
-- KEYS: 1 events stream, 2 id hash
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
-- Removes `position` from the id hash's list of positions of `id`.
local function forget_id(id, position)
  local held = redis.call('HGET', KEYS[2], id)
  if not held then return end
  local kept = {}
  for p in string.gmatch(held, '%S+') do
    if p ~= position then kept[#kept + 1] = p end
  end
  if #kept == 0 then
    redis.call('HDEL', KEYS[2], id)
  else
    redis.call('HSET', KEYS[2], id, table.concat(kept, ' '))
  end
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
  if f['id'] then
    forget_id(f['id'], id)
  end
  if f['subject'] then
    redis.call('XDEL', ARGV[4] .. f['subject'], id)
  end
  last = id
  removed = removed + 1
end
if last then
  local ms, seq = parse(last)
  redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', ms, seq + 1))
end
return {removed, held}
