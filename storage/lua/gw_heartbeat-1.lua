-- A wallet's heartbeat: extends its liveness key by the TTL the gateway chose at the handshake.
-- KEYS[1] conn. Returns 1, or 0 when the connection was evicted (the wallet must reconnect).
local ttl = redis.call('HGET', KEYS[1], 'ttl')
if not ttl then return 0 end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
