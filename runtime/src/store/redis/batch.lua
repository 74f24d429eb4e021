-- Appending one batch of events: the steps shared by append.lua and commit.lua, which are
-- built as this snippet followed by their own body (see scripts.rs).
--
-- A batch is a table `b`: `events`, `ids`, `subjects` (the keys of the events stream, the id
-- hash and the set of subjects), `names` (the batch's distinct subjects), `index` (the key of
-- each one's index stream, in the same order), `n` (events) and `base`: its events are read
-- from ARGV after index `base`, 4 slots per event: id, source, subject number (0 = none, else
-- an index into `names`), structured JSON.
--
-- Why it looks like this (docs/BENCHMARKS.md, "ingest on Redis"): per event, only the two
-- XADDs run; the id hash is read and written once per chunk. One hash serves both lookup by
-- id and deduplication (a hit is confirmed by the stored entry's `source`, which is rare on
-- ingest), and the subject version is the index stream's own `entries-added` counter, so no
-- per-subject counter is written.

local SLOTS = 4

-- The most items one multi-item command carries: Lua's `unpack` has a limit, and a bounded
-- command keeps Redis responsive.
local CHUNK = 500

-- Calls `command` on `key` with `args` (`per_item` arguments per item) in chunks, and returns
-- the per-item replies concatenated (empty for commands that answer a count).
local function chunked(command, key, args, per_item)
  local replies = {}
  local step = CHUNK * per_item
  for i = 1, #args, step do
    local reply = redis.call(command, key, unpack(args, i, math.min(i + step - 1, #args)))
    if type(reply) == 'table' then
      for j = 1, #reply do replies[#replies + 1] = reply[j] end
    end
  end
  return replies
end

-- The `source` field of the entry at `position` of stream `events` (nil if it is gone).
local function source_at(events, position)
  local entry = redis.call('XRANGE', events, position, position)[1]
  if entry == nil then return nil end
  local fields = entry[2]
  for f = 1, #fields, 2 do
    if fields[f] == 'source' then return fields[f + 1] end
  end
  return nil
end

-- The subject version: how many events the subject has ever had, trimmed ones included. Its
-- index stream counts them itself (`entries-added`, Redis 7.0), and the key outlives a trim
-- (an emptied stream is kept).
local function subject_version(index_key)
  if redis.call('EXISTS', index_key) == 0 then return '0' end
  local info = redis.call('XINFO', 'STREAM', index_key)
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then return tostring(info[i + 1]) end
  end
  return redis.error_reply('XINFO STREAM gave no entries-added (Redis older than 7.0?)')
end

-- Decides which events of the batch are duplicates. Returns a plan: `stored[i]`, the position
-- of the stored event with the same source + id; `earlier[i]`, the index of an earlier new
-- event of the batch with the same source + id; `held[i]`, the id hash's value for event i's
-- id (false if none); and `fresh`, the number of new events.
local function plan_batch(b)
  local ids = {}
  for i = 1, b.n do ids[i] = ARGV[b.base + (i - 1) * SLOTS + 1] end
  local held = chunked('HMGET', b.ids, ids, 1)
  local stored, earlier, fresh = {}, {}, 0
  -- id → index of the batch's first new event with that id; several sources with one id
  -- (rare) go to `others[id][source]`.
  local first, others = {}, {}
  for i = 1, b.n do
    local id, source = ids[i], ARGV[b.base + (i - 1) * SLOTS + 2]
    if held[i] then
      for position in string.gmatch(held[i], '%S+') do
        if source_at(b.events, position) == source then
          stored[i] = position
          break
        end
      end
    end
    if not stored[i] then
      local j = first[id]
      if j == nil then
        first[id] = i
        fresh = fresh + 1
      elseif ARGV[b.base + (j - 1) * SLOTS + 2] == source then
        earlier[i] = j
      else
        local by_source = others[id] or {}
        others[id] = by_source
        if by_source[source] then
          earlier[i] = by_source[source]
        else
          by_source[source] = i
          fresh = fresh + 1
        end
      end
    end
  end
  return {stored = stored, earlier = earlier, held = held, fresh = fresh}
end

-- Stores the batch's new events in the events stream with their subject index entries and
-- id hash values, and appends position, duplicate ('1' | '0') of every event to `reply`.
local function write_batch(b, plan, reply)
  local assigned = {}
  -- The id hash's new values (id → positions, oldest first), in order of first change.
  local values, changed = {}, {}
  for i = 1, b.n do
    local position, duplicate
    if plan.stored[i] then
      position, duplicate = plan.stored[i], '1'
    elseif plan.earlier[i] then
      position, duplicate = assigned[plan.earlier[i]], '1'
    else
      local at = b.base + (i - 1) * SLOTS
      local id, source, s, json = ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3]), ARGV[at + 4]
      if s > 0 then
        position = redis.call('XADD', b.events, '*',
          'id', id, 'source', source, 'subject', b.names[s], 'event', json)
        -- Explicit ids: the index entry's id is the event's position.
        redis.call('XADD', b.index[s], position, 'e', '')
      else
        position = redis.call('XADD', b.events, '*', 'id', id, 'source', source, 'event', json)
      end
      local value = values[id]
      if value == nil then
        value = plan.held[i]
        changed[#changed + 1] = id
      end
      if value then
        values[id] = value .. ' ' .. position
      else
        values[id] = position
      end
      assigned[i] = position
      duplicate = '0'
    end
    reply[#reply + 1] = position
    reply[#reply + 1] = duplicate
  end
  if #changed > 0 then
    local fields = {}
    for _, id in ipairs(changed) do
      fields[#fields + 1] = id
      fields[#fields + 1] = values[id]
    end
    chunked('HSET', b.ids, fields, 2)
    if #b.names > 0 then
      chunked('SADD', b.subjects, b.names, 1)
    end
  end
end
