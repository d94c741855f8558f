-- Token buckets for one request: the token's and its account's, checked and charged together (both
-- keys carry the account's hash tag, so one slot). Time is Redis's own clock, so every node agrees.
-- KEYS[1] token bucket  KEYS[2] account bucket
-- ARGV[1] token rate/s  ARGV[2] token burst  ARGV[3] account rate/s  ARGV[4] account burst  ARGV[5] cost
-- ARGV[6], ARGV[7] (optional) channel and message: published only when the request is allowed, so
-- that the gateway charges the buckets and hands a request to a wallet in one round trip.
-- The message goes to a wallet's shard channel (SPUBLISH; see actors/gateway/wallet-channel.ts). Only
-- on one Redis: on a cluster the channel's slot is not the buckets' slot, and the gateway publishes apart.
-- Returns {allowed (1|0), retry-after ms, listeners that got the message (0 when none was asked)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[5])

local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 'tok', 'ts')
  local tok, ts = tonumber(v[1]), tonumber(v[2])
  if not tok or not ts then return burst end
  return math.min(burst, tok + math.max(0, now - ts) * rate / 1000)
end

local function save(key, tok, rate, burst)
  redis.call('HSET', key, 'tok', tostring(tok), 'ts', tostring(now))
  -- A full bucket carries no information: let it expire once it would have refilled.
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
end

local tr, tb, ar, ab = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t1 = level(KEYS[1], tr, tb)
local t2 = level(KEYS[2], ar, ab)
local wait = 0
if t1 < cost then wait = math.max(wait, math.ceil((cost - t1) * 1000 / tr)) end
if t2 < cost then wait = math.max(wait, math.ceil((cost - t2) * 1000 / ar)) end
if wait == 0 then
  t1 = t1 - cost
  t2 = t2 - cost
end
save(KEYS[1], t1, tr, tb)
save(KEYS[2], t2, ar, ab)
if wait ~= 0 then return {0, wait, 0} end
local receivers = 0
if ARGV[6] then receivers = redis.call('SPUBLISH', ARGV[6], ARGV[7]) end
return {1, 0, receivers}
