-- Enqueue one task, idempotently by task id.
-- KEYS[1] task hash, KEYS[2] stream of its priority, KEYS[3] scheduled zset, KEYS[4] idle flag
-- ARGV: id, type, payload, key, priority, maxRetries, timeoutMs, replyChannel, delayMs, wakeChannel
-- Returns {created 0|1, state}
local st = redis.call('HGET', KEYS[1], 'st')
if st then return {0, st} end
local now = now_ms()
local delay = tonumber(ARGV[9])
redis.call('HSET', KEYS[1], 'type', ARGV[2], 'payload', ARGV[3], 'key', ARGV[4], 'prio', ARGV[5],
  'max', ARGV[6], 'tmo', ARGV[7], 'reply', ARGV[8], 'enq', now, 'att', 1)
if delay > 0 then
  redis.call('HSET', KEYS[1], 'st', 'scheduled', 'due', now + delay)
  redis.call('ZADD', KEYS[3], now + delay, ARGV[1])
  -- the owner sleeps until the earliest due time: tell it when that moved earlier
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if first[1] == ARGV[1] then redis.call('PUBLISH', ARGV[10], 's') end
  return {1, 'scheduled'}
end
redis.call('HSET', KEYS[1], 'st', 'pending')
redis.call('XADD', KEYS[2], '*', 'i', ARGV[1], 'a', '1')
-- the flag is set by the owner's fetch when it found the partition empty: only then is a wake-up needed
if redis.call('DEL', KEYS[4]) == 1 then redis.call('PUBLISH', ARGV[10], 'q') end
return {1, 'pending'}
