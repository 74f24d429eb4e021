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

-- Decides which events of the batch are duplicates: `stored[i]` is the position of a stored
-- event with the same source + id; `first[field]` the first index of each new one. Returns
-- them with the number of new events. One HMGET per chunk, not one HGET per event.
local function plan_batch(dedupe, base, n)
  local fields = {}
  for i = 1, n do
    fields[i] = ARGV[base + (i - 1) * 6 + 1]
  end
  local positions = chunked('HMGET', dedupe, fields, 1)
  local stored, first, fresh = {}, {}, 0
  for i = 1, n do
    local field = fields[i]
    if positions[i] then
      stored[i] = positions[i]
    elseif first[field] == nil then
      first[field] = i
      fresh = fresh + 1
    end
  end
  return stored, first, fresh
end

-- Stores the batch's new events in the events stream `k.events` with their dedupe, id and
-- subject index entries and subject versions, and appends position, duplicate ('1' | '0')
-- of every event to `reply`. Only XADD runs per event: the index writes are gathered and
-- made per chunk (dedupe, ids) or per subject (index, version), which cuts the calls per
-- event from six to about one.
local function write_batch(k, base, n, stored, first, reply)
  local assigned = {}
  local dedupe = {}
  local ids, id_positions, id_seen = {}, {}, {}
  local members, member_keys = {}, {}
  local versions, version_subjects = {}, {}
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
        if members[subject_key] == nil then
          members[subject_key] = {}
          member_keys[#member_keys + 1] = subject_key
        end
        local list = members[subject_key]
        list[#list + 1] = 0
        list[#list + 1] = pad(position)
        if versions[subject] == nil then
          versions[subject] = 0
          version_subjects[#version_subjects + 1] = subject
        end
        versions[subject] = versions[subject] + 1
      else
        position = redis.call('XADD', k.events, '*', 'id', id, 'source', source, 'event', json)
      end
      dedupe[#dedupe + 1] = field
      dedupe[#dedupe + 1] = position
      -- The id lookup keeps the first retained event of each id (as HSETNX would).
      if not id_seen[id] then
        id_seen[id] = true
        ids[#ids + 1] = id
        id_positions[#id_positions + 1] = position
      end
      assigned[i] = position
      duplicate = '0'
    end
    reply[#reply + 1] = position
    reply[#reply + 1] = duplicate
  end
  if #dedupe > 0 then
    chunked('HSET', k.dedupe, dedupe, 2)
  end
  if #ids > 0 then
    local existing = chunked('HMGET', k.ids, ids, 1)
    local missing = {}
    for j = 1, #ids do
      if not existing[j] then
        missing[#missing + 1] = ids[j]
        missing[#missing + 1] = id_positions[j]
      end
    end
    if #missing > 0 then
      chunked('HSET', k.ids, missing, 2)
    end
  end
  for _, key_index in ipairs(member_keys) do
    chunked('ZADD', KEYS[key_index], members[key_index], 2)
  end
  for _, subject in ipairs(version_subjects) do
    redis.call('HINCRBY', k.versions, subject, versions[subject])
  end
end
