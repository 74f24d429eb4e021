#!lua
-- Records which key layout this Redis holds, or answers the one it already holds
-- (keys.rs, LAYOUT).
--
-- KEYS: 1 eddy:layout, 2 eddy:streams
-- ARGV: 1 the layout this Eddy writes
-- Reply: the layout of the data ('1': a stream has layout 1's dedupe or versions hash)
local held = redis.call('GET', KEYS[1])
if held then return held end
-- No record: a new Redis, data of layout 1 (written before the record existed), or data
-- written after a restart without persistence lost the record. Only layout 1's own keys
-- tell them apart.
for _, stream in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local prefix = 'eddy:{' .. stream .. '}:'
  if redis.call('EXISTS', prefix .. 'dedupe', prefix .. 'versions') > 0 then
    return '1'
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
