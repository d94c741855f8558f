-- include: _lib.lua
-- Membership: refresh this node's heartbeat, forget expired nodes, return the live ones (sorted).
-- KEYS[1] nodes zset (score = expiry, Redis clock); ARGV: nodeId, ttlMs, leaving ('1' to leave)
local now = now_ms()
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
