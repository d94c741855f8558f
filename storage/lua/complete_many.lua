-- Finish tasks: store each result, tell its producer, then acknowledge — one atomic step, so that an
-- entry is never acknowledged without its result and a stored result is never left unacknowledged.
-- The first stored outcome wins: a late duplicate does not overwrite or re-publish.
-- The tasks may belong to several partitions (on one Redis, one call finishes a whole batch of the
-- node's; on a cluster, where a script's keys must share a slot, a call holds one partition's).
-- KEYS: per partition g = 1..G its streams critical/default/low (KEYS[3g-2 .. 3g]), then per task:
--   task hash, result key
-- ARGV[1] group, ARGV[2] resultTtlMs, ARGV[3] G, then 6 per task: partition index g (1..G), priority
--   index (1..3), entryId, envelope, taskId, replyChannel
local group, ttl, parts = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = (#KEYS - 3 * parts) / 2
local ids = {}
for j = 0, n - 1 do
  local tkey, rkey = KEYS[3 * parts + 1 + 2 * j], KEYS[3 * parts + 2 + 2 * j]
  local b = 4 + 6 * j
  local g, prio, eid, env, id, reply = tonumber(ARGV[b]), tonumber(ARGV[b + 1]), ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
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
  local s = 3 * (g - 1) + prio
  ids[s] = ids[s] or {}
  table.insert(ids[s], eid)
end
for s, list in pairs(ids) do
  redis.call('XACK', KEYS[s], group, unpack(list))
  redis.call('XDEL', KEYS[s], unpack(list))
end
return n
