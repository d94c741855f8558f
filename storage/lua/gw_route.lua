-- The live connections of one route, with what each stored for it.
-- KEYS[1] route set   ARGV[1] liveness key prefix ("<p>:gw:conn:")  ARGV[2] record prefix ("<p>:gw:conninfo:")
-- A member whose liveness key has expired (missed heartbeats) is left out at once; the sweeper
-- removes it from the set. Returns a flat list: id1, info1, id2, info2, …
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    local info = redis.call('HGET', ARGV[2] .. id, KEYS[1])
    if info then
      out[#out + 1] = id
      out[#out + 1] = info
    end
  end
end
return out
