-- include: _lib.lua
-- A failed attempt: schedule a retry, or archive the task as a dead letter (and tell the producer).
-- KEYS[1] stream, KEYS[2] task hash, KEYS[3] scheduled zset, KEYS[4] dead zset, KEYS[5] result
-- ARGV: group, entryId, taskId, mode ('retry'|'archive'), delayMs, error envelope, resultTtlMs,
--       replyChannel, nextAttempt, dead-letter retention: most kept, longest kept (ms), and the
--       partition's task-record and result key prefixes (the dropped letters' keys, same slot)
-- Returns ms until the earliest scheduled task (-1 if none).
local now = now_ms()
if ARGV[4] == 'retry' then
  local due = now + tonumber(ARGV[5])
  redis.call('HSET', KEYS[2], 'st', 'retry', 'att', ARGV[9], 'err', ARGV[6], 'due', due)
  redis.call('ZADD', KEYS[3], due, ARGV[3])
elseif redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('HSET', KEYS[2], 'st', 'archived', 'err', ARGV[6], 'done', now)
  redis.call('ZADD', KEYS[4], now, ARGV[3])
  redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7])
  if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[3] .. ' ' .. ARGV[6]) end
  -- Retention (Asynq's defaults: 10,000 per partition, 90 days): the oldest letters beyond the count
  -- or the age go, with their records and results. At most 100 per archive, so that this script stays
  -- short; a larger excess (retention just lowered) shrinks over the archives that follow.
  local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[10])
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - tonumber(ARGV[11])), 'LIMIT', 0, 100)
  local drop = math.min(100, math.max(over, #old))
  if drop > 0 then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, drop - 1)) do
      redis.call('DEL', ARGV[12] .. id, ARGV[13] .. id)
      redis.call('ZREM', KEYS[4], id)
    end
  end
end
ack_del(KEYS[1], ARGV[1], ARGV[2])
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[2] then return math.max(0, tonumber(first[2]) - now) end
return -1
