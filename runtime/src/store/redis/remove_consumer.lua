#!lua
-- Removes a consumer from a group without losing its pending entries: XGROUP DELCONSUMER alone
-- would drop them, so first they pass to the orphan owner, keeping idle time and delivery
-- count, from which XAUTOCLAIM can give them to another consumer.
--
-- KEYS: 1 events stream
-- ARGV: 1 group, 2 consumer, 3 orphan owner
-- Reply: the number of pending entries passed on
local moved = 0
while true do
  local batch = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100, ARGV[2])
  if #batch == 0 then break end
  for _, p in ipairs(batch) do
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, p[1],
      'IDLE', p[3], 'RETRYCOUNT', p[4], 'JUSTID')
    moved = moved + 1
  end
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return moved
