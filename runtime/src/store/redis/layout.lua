#!lua
-- Records which key layout this Redis holds, or answers the one it already holds
-- (keys.rs, LAYOUT).
--
-- KEYS: 1 eddy:layout, 2 eddy:streams
-- ARGV: 1 the layout this Eddy writes
-- Reply: the layout of the data ('1': streams written before eddy:layout existed)
local held = redis.call('GET', KEYS[1])
if held then return held end
if redis.call('EXISTS', KEYS[2]) == 1 then return '1' end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
