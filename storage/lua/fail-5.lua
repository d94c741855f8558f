-- include: _lib.lua
-- A failed attempt: schedule a retry, or archive the task as a dead letter (and tell the producer).
-- KEYS[1] stream, KEYS[2] task hash, KEYS[3] scheduled zset, KEYS[4] dead zset, KEYS[5] result
-- ARGV: group, entryId, taskId, mode ('retry'|'archive'), delayMs, error envelope, resultTtlMs,
--       replyChannel, nextAttempt
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
end
ack_del(KEYS[1], ARGV[1], ARGV[2])
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[2] then return math.max(0, tonumber(first[2]) - now) end
return -1
