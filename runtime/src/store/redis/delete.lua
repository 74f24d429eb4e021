#!lua
-- Deletes a stream and everything Eddy keeps about it, atomically.
--
-- KEYS: 1 events stream, 2 dedupe hash, 3 ids hash, 4 versions hash, 5 checkpoints hash,
--       6 eddy:streams
-- ARGV: 1 stream name, 2 subject index key prefix
-- Reply: 1 if the stream existed, else 0
local existed = redis.call('EXISTS', KEYS[1]) == 1 or redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 1
for _, subject in ipairs(redis.call('HKEYS', KEYS[4])) do
  redis.call('UNLINK', ARGV[2] .. subject)
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SREM', KEYS[6], ARGV[1])
if existed then return 1 end
return 0
