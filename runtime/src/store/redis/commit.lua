-- One processing step's writes, atomically (Eddy, docs/STORAGE.md). Follows batch.lua.
-- Everything that can refuse the commit (the fence, missing groups) is checked before the
-- first write: Redis does not roll a script back when it fails half-way.
--
-- KEYS and ARGV are read in order, section by section:
--   fence:       ARGV fence value ('' = none: no key; else `<token>:<owner>`), KEY lease
--   appends:     ARGV n; per append: ARGV stream name, n events, n subjects, the subjects;
--                KEYS events stream, id hash, subjects set, one index stream per subject;
--                then 4 ARGV per event as batch.lua reads them
--   acks:        ARGV n; per ack: ARGV group, n positions, positions; KEY events stream
--   states:      ARGV n; per state: ARGV subject, encoded state; KEYS states hash, subjects
--                sorted set
--   snapshots:   ARGV n; per snapshot: ARGV plugin hash, member, encoded state, keep;
--                KEYS snapshot index sorted set, snapshot bodies hash
--   checkpoints: ARGV n; per checkpoint: ARGV name, position; KEY checkpoints hash
--   KEY eddy:streams
-- Reply: {'ok', position, duplicate('1'|'0'), ...} over every append's events in order,
--        {'lease-lost'}, or {'nogroup', ack index (from 1)}
local a, k = 0, 0
local function arg() a = a + 1; return ARGV[a] end
local function key() k = k + 1; return KEYS[k] end

local fence = arg()
if fence ~= '' then
  if redis.call('GET', key()) ~= fence then
    return {'lease-lost'}
  end
end

local appends = {}
for i = 1, tonumber(arg()) do
  local stream, n, subjects = arg(), tonumber(arg()), tonumber(arg())
  local b = {events = key(), ids = key(), subjects = key(), names = {}, index = {}, n = n}
  for s = 1, subjects do
    b.names[s] = arg()
    b.index[s] = key()
  end
  b.base = a
  appends[i] = {stream = stream, batch = b}
  a = a + n * SLOTS
end

local acks = {}
for i = 1, tonumber(arg()) do
  local stream, group, n = key(), arg(), tonumber(arg())
  local positions = {}
  for j = 1, n do positions[j] = arg() end
  local found = false
  if redis.call('EXISTS', stream) == 1 then
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
      for f = 1, #g, 2 do
        if g[f] == 'name' and g[f + 1] == group then found = true end
      end
    end
  end
  if not found then
    return {'nogroup', i}
  end
  acks[i] = {stream = stream, group = group, positions = positions}
end

local reply = {'ok'}
for _, append in ipairs(appends) do
  if append.batch.n > 0 then
    write_batch(append.batch, plan_batch(append.batch), reply)
  end
end

for _, ack in ipairs(acks) do
  -- In slices: unpack is bounded by Lua's C stack.
  for from = 1, #ack.positions, 1000 do
    local to = math.min(from + 999, #ack.positions)
    redis.call('XACK', ack.stream, ack.group, unpack(ack.positions, from, to))
  end
end

for _ = 1, tonumber(arg()) do
  local states, subjects = key(), key()
  local subject, value = arg(), arg()
  redis.call('HSET', states, subject, value)
  redis.call('ZADD', subjects, 0, subject)
end

for _ = 1, tonumber(arg()) do
  local index, bodies = key(), key()
  local plugin, member, value, keep = arg(), arg(), arg(), tonumber(arg())
  redis.call('ZADD', index, 0, member)
  redis.call('HSET', bodies, member, value)
  -- Members are `<hash>:<padded position>`: `;` sorts right after `:`.
  local held = redis.call('ZRANGEBYLEX', index, '[' .. plugin .. ':', '(' .. plugin .. ';')
  for i = 1, #held - math.max(keep, 1) do
    redis.call('ZREM', index, held[i])
    redis.call('HDEL', bodies, held[i])
  end
end

for _ = 1, tonumber(arg()) do
  local checkpoints = key()
  local name, position = arg(), arg()
  redis.call('HSET', checkpoints, name, position)
end

local streams = key()
for _, append in ipairs(appends) do
  if append.batch.n > 0 then
    redis.call('SADD', streams, append.stream)
  end
end
return reply
