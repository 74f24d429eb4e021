#!lua
-- Gives a consumer the entries pending on another (or on itself), however long idle, in one
-- step, so that two starting workers cannot both take the same entry.
--
-- KEYS: 1 events stream
-- ARGV: 1 group, 2 owner, 3 consumer, 4 limit
-- Reply: the claimed entries as XRANGE gives them, oldest first
local claimed = {}
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
for _, p in ipairs(pending) do
  local entry = redis.call('XRANGE', KEYS[1], p[1], p[1])
  if #entry == 0 then
    -- Trimmed away: nothing to deliver, so it is no longer pending (as XAUTOCLAIM does).
    redis.call('XACK', KEYS[1], ARGV[1], p[1])
  else
    -- JUSTID alone would not count the delivery; a claim counts one, as XAUTOCLAIM does.
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, p[1], 'RETRYCOUNT', p[4] + 1, 'JUSTID')
    claimed[#claimed + 1] = entry[1]
  end
end
return claimed
