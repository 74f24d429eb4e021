#!lua flags=no-writes
-- Lists live leases by name prefix (Eddy, docs/STORAGE.md), in one consistent look.
--
-- KEYS: 1 eddy:leases
-- ARGV: 1 min and 2 max of the names, as ZRANGEBYLEX bounds, 3 and 4 what comes before and
--       after a name in its lease key
-- Reply: {name, lease value (`<token>:<owner>`), remaining ttl in ms} per live lease
local reply = {}
for _, name in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])) do
  local key = ARGV[3] .. name .. ARGV[4]
  local held = redis.call('GET', key)
  if held then
    reply[#reply + 1] = {name, held, redis.call('PTTL', key)}
  end
end
return reply
