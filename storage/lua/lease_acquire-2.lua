-- Take a free partition lease; every acquisition bumps the partition's fencing epoch.
-- KEYS[1] lease, KEYS[2] epoch counter; ARGV: nodeId, ttlMs. Returns the new epoch, or 0 if taken.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local e = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. e, 'PX', ARGV[2])
return e
