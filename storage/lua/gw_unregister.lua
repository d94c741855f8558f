-- Removes a connection from routing: every route set it is in, its liveness key and its record.
-- KEYS[1] conn  KEYS[2] conninfo  KEYS[3] set of all connection ids   ARGV[1] connId
-- Returns the route keys it was removed from (so that nodes can drop cached routes).
local fields = redis.call('HKEYS', KEYS[2])
local out = {}
for _, f in ipairs(fields) do
  if string.sub(f, 1, 1) ~= '_' then
    redis.call('SREM', f, ARGV[1])
    out[#out + 1] = f
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return out
