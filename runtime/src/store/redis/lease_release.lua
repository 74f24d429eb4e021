#!lua
-- Releases a lease if the owner holds it (Eddy, docs/STORAGE.md); its token key stays.
--
-- KEYS: 1 lease key
-- ARGV: 1 owner
-- Reply: 1 if it was released, else 0
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^%d+:(.*)$') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
