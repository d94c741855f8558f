-- Removes some routes of a live connection (a wallet dropping addresses while connected).
-- All keys declared, in the gateway's one hash slot (see actors/gateway/keys.ts).
-- KEYS[1] conninfo  KEYS[2..] route sets   ARGV[1] connId
local n = 0
for i = 2, #KEYS do
  n = n + redis.call('HDEL', KEYS[1], KEYS[i])
  redis.call('SREM', KEYS[i], ARGV[1])
end
return n
