-- include: _lib.lua
-- Enqueue tasks of one partition, idempotently by task id (an id that exists is left as it is).
-- KEYS[1] scheduled zset, KEYS[2] idle flag, KEYS[3..5] streams critical/default/low, KEYS[6..] task hashes
-- ARGV[1] wake channel, then 10 per task: id, type, payload, key, priority, maxRetries, timeoutMs,
--   replyChannel, delayMs, auth (the request's credential proof, '' for none)
-- Returns one {created 0|1, state} per task.
local stream = { critical = KEYS[3], default = KEYS[4], low = KEYS[5] }
local n = #KEYS - 5
local now = now_ms()
-- Only a delayed task can move the earliest due time: without one, the scheduled set is not read.
local delayed = false
for j = 0, n - 1 do
  if tonumber(ARGV[2 + 10 * j + 8]) > 0 then delayed = true end
end
local first = delayed and redis.call('ZRANGE', KEYS[1], 0, 0)[1]
local out, queued = {}, 0
for j = 0, n - 1 do
  local tkey = KEYS[6 + j]
  local b = 2 + 10 * j
  local st = redis.call('HGET', tkey, 'st')
  if st then
    out[j + 1] = {0, st}
  else
    local id, prio, delay = ARGV[b], ARGV[b + 4], tonumber(ARGV[b + 8])
    local state = 'pending'
    if delay > 0 then state = 'scheduled' end
    redis.call('HSET', tkey, 'type', ARGV[b + 1], 'payload', ARGV[b + 2], 'key', ARGV[b + 3], 'prio', prio,
      'max', ARGV[b + 5], 'tmo', ARGV[b + 6], 'reply', ARGV[b + 7], 'enq', now, 'att', 1, 'st', state)
    if ARGV[b + 9] ~= '' then redis.call('HSET', tkey, 'auth', ARGV[b + 9]) end
    if delay > 0 then
      redis.call('HSET', tkey, 'due', now + delay)
      redis.call('ZADD', KEYS[1], now + delay, id)
    else
      redis.call('XADD', stream[prio] or KEYS[4], '*', 'i', id, 'a', '1')
      queued = queued + 1
    end
    out[j + 1] = {1, state}
  end
end
-- The owner sleeps until the earliest due time: tell it when that moved earlier.
if delayed and redis.call('ZRANGE', KEYS[1], 0, 0)[1] ~= first then redis.call('SPUBLISH', ARGV[1], 's') end
-- The idle flag is set by the owner's fetch when it found the partition empty: only then is a
-- wake-up needed (and the flag is cleared, so a busy partition costs no PUBLISH).
if queued > 0 and redis.call('DEL', KEYS[2]) == 1 then redis.call('SPUBLISH', ARGV[1], 'q') end
return out
