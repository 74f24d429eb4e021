#!lua
-- Takes or renews a lease (Eddy, docs/STORAGE.md). The lease key holds `<token>:<owner>` and
-- expires with the lease; the token key is never deleted, so each new holder's token (INCR) is
-- greater than every earlier one. A renewal by the holder keeps the token.
--
-- KEYS: 1 lease key, 2 token key, 3 eddy:leases
-- ARGV: 1 lease name, 2 owner, 3 ttl in ms
-- Reply: the token, or nil if another owner holds the lease
local held = redis.call('GET', KEYS[1])
if held then
  local token, owner = string.match(held, '^(%d+):(.*)$')
  if owner ~= ARGV[2] then
    return false
  end
  redis.call('SET', KEYS[1], held, 'PX', ARGV[3])
  return tonumber(token)
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return token
