#!lua
-- Deletes a stream and everything Eddy keeps about it, atomically.
--
-- KEYS: 1 events stream, 2 id hash, 3 subjects set, 4 checkpoints hash, 5 eddy:streams
-- ARGV: 1 stream name, 2 subject index key prefix
-- Reply: 1 if the stream existed, else 0
local existed = redis.call('EXISTS', KEYS[1]) == 1 or redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1
for _, subject in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('UNLINK', ARGV[2] .. subject)
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SREM', KEYS[5], ARGV[1])
if existed then return 1 end
return 0
