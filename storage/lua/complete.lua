-- Finish a task: store its result, tell the producer, then acknowledge — one atomic step, so that an
-- entry is never acknowledged without its result and a stored result is never left unacknowledged.
-- KEYS[1] stream, KEYS[2] task hash, KEYS[3] result
-- ARGV: group, entryId, envelope (JSON), resultTtlMs, taskId, replyChannel
-- The first stored outcome wins: a late duplicate completion does not overwrite or re-publish it.
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
  if redis.call('EXISTS', KEYS[2]) == 1 then
    -- the record stays for idempotent enqueue until the result expires; the payload may hold secrets
    redis.call('HSET', KEYS[2], 'st', 'completed')
    redis.call('HDEL', KEYS[2], 'payload')
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
  if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[5] .. ' ' .. ARGV[3]) end
end
ack_del(KEYS[1], ARGV[1], ARGV[2])
return 1
