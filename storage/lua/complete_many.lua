-- Finish tasks of one partition: store each result, tell its producer, then acknowledge — one atomic
-- step, so that an entry is never acknowledged without its result and a stored result is never left
-- unacknowledged. The first stored outcome wins: a late duplicate does not overwrite or re-publish.
-- KEYS[1..3] streams critical/default/low, then per task: task hash, result key
-- ARGV[1] group, ARGV[2] resultTtlMs, then 5 per task: priority index (1..3), entryId, envelope,
--   taskId, replyChannel
local group, ttl = ARGV[1], ARGV[2]
local n = (#KEYS - 3) / 2
local ids = { {}, {}, {} }
for j = 0, n - 1 do
  local tkey, rkey = KEYS[4 + 2 * j], KEYS[5 + 2 * j]
  local b = 3 + 5 * j
  local prio, eid, env, id, reply = tonumber(ARGV[b]), ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  if redis.call('EXISTS', rkey) == 0 then
    redis.call('SET', rkey, env, 'PX', ttl)
    if redis.call('EXISTS', tkey) == 1 then
      -- the record stays for idempotent enqueue until the result expires; the payload may hold secrets
      redis.call('HSET', tkey, 'st', 'completed')
      redis.call('HDEL', tkey, 'payload')
      redis.call('PEXPIRE', tkey, ttl)
    end
    if reply ~= '' then redis.call('PUBLISH', reply, id .. ' ' .. env) end
  end
  table.insert(ids[prio], eid)
end
for i = 1, 3 do
  if #ids[i] > 0 then
    redis.call('XACK', KEYS[i], group, unpack(ids[i]))
    redis.call('XDEL', KEYS[i], unpack(ids[i]))
  end
end
return n
