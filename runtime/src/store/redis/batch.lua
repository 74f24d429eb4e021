-- Appending one batch of events: the steps shared by append.lua and commit.lua, which are
-- built as this snippet followed by their own body (see scripts.rs).
--
-- A batch's events are read from ARGV starting after index `base`, 6 slots per event:
-- dedupe field, id, source, subject index key (an index into KEYS, 0 = no subject), subject,
-- structured JSON.

local function pad(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

-- Decides which events of the batch are duplicates: `stored[i]` is the position of a stored
-- event with the same source + id; `first[field]` the first index of each new one. Returns
-- them with the number of new events.
local function plan_batch(dedupe, base, n)
  local stored, first, fresh = {}, {}, 0
  for i = 1, n do
    local field = ARGV[base + (i - 1) * 6 + 1]
    local position = redis.call('HGET', dedupe, field)
    if position then
      stored[i] = position
    elseif first[field] == nil then
      first[field] = i
      fresh = fresh + 1
    end
  end
  return stored, first, fresh
end

-- Stores the batch's new events in the events stream `k.events` with their dedupe, id and
-- subject index entries and subject versions, and appends position, duplicate ('1' | '0')
-- of every event to `reply`.
local function write_batch(k, base, n, stored, first, reply)
  local assigned = {}
  for i = 1, n do
    local b = base + (i - 1) * 6
    local field, id, source = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
    local subject_key, subject, json = tonumber(ARGV[b + 4]), ARGV[b + 5], ARGV[b + 6]
    local position, duplicate
    if stored[i] then
      position, duplicate = stored[i], '1'
    elseif first[field] ~= i then
      position, duplicate = assigned[first[field]], '1'
    else
      if subject_key > 0 then
        position = redis.call('XADD', k.events, '*',
          'id', id, 'source', source, 'subject', subject, 'event', json)
        redis.call('ZADD', KEYS[subject_key], 0, pad(position))
        redis.call('HINCRBY', k.versions, subject, 1)
      else
        position = redis.call('XADD', k.events, '*', 'id', id, 'source', source, 'event', json)
      end
      redis.call('HSET', k.dedupe, field, position)
      redis.call('HSETNX', k.ids, id, position)
      assigned[i] = position
      duplicate = '0'
    end
    reply[#reply + 1] = position
    reply[#reply + 1] = duplicate
  end
end

