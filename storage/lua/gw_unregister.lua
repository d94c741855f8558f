-- Removes a connection from routing: every route set it is in, its liveness key and its record.
-- KEYS[1] conn  KEYS[2] conninfo  KEYS[3] set of all connection ids  KEYS[4..] the route sets the
-- caller read from the record (its fields not starting with "_")   ARGV[1] connId
-- Every key is declared (Redis Cluster): the record's routes are read by the caller first, and when
-- they changed since (a registration added or removed one) nothing is done and nil is returned, so
-- that the caller reads them again and retries.
-- Returns the route keys it was removed from (so that nodes can drop cached routes), or nil.
local declared = {}
for i = 4, #KEYS do declared[KEYS[i]] = true end
local n = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(f, 1, 1) ~= '_' then
    if not declared[f] then return false end
    n = n + 1
  end
end
if n ~= #KEYS - 3 then return false end
local out = {}
for i = 4, #KEYS do
  redis.call('SREM', KEYS[i], ARGV[1])
  out[#out + 1] = KEYS[i]
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return out
