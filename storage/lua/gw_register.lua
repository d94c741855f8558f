-- Registers routes of a gateway connection (wallet or proof worker) after its handshake.
-- Every key it touches is declared (Redis Cluster: all under the gateway's one hash tag, see keys.ts).
-- KEYS[1] conn (liveness, PX ttl, refreshed by heartbeats)  KEYS[2] conninfo (routes, no expiry)
-- KEYS[3] set of all connection ids  KEYS[4..] route sets (one per route)
-- ARGV[1] connId  ARGV[2] ttl ms  ARGV[3] account  ARGV[4] kind  ARGV[5] node  ARGV[6] mode ('new' | 'add')
-- ARGV[7] connected-at ms  ARGV[8] the connection's key record (field _auth, actors/gateway/node-auth.ts;
--   '' without auth), written with the connection so no node ever sees it announced without one
-- ARGV[9..] one JSON blob per route key (what the route needs: announced spelling, public key)
-- Returns 1, or 0 when mode='new' and the id is taken / mode='add' and the connection is gone or of
-- another account (a connection id can never be taken over).
local id, ttl, account, kind, node, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if mode == 'new' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  redis.call('HSET', KEYS[1], 'account', account, 'kind', kind, 'node', node, 'ttl', ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('HSET', KEYS[2], '_account', account, '_kind', kind, '_since', ARGV[7])
  if ARGV[8] ~= '' then redis.call('HSET', KEYS[2], '_auth', ARGV[8]) end
  redis.call('SADD', KEYS[3], id)
else
  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
  if redis.call('HGET', KEYS[2], '_account') ~= account or redis.call('HGET', KEYS[2], '_kind') ~= kind then return 0 end
end
for i = 4, #KEYS do
  redis.call('HSET', KEYS[2], KEYS[i], ARGV[i + 5])
  redis.call('SADD', KEYS[i], id)
end
return 1
