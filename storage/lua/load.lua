-- include: _lib.lua
-- Load the tasks of entries just delivered by fetch-5.lua or claim-2.lua, and settle those that need
-- no run, atomically with marking the others active: a task whose result is already stored (it was
-- delivered again after a crash or a timeout) is acknowledged and its stored result re-published
-- instead of running it twice; an entry whose task record is gone is acknowledged and dropped.
-- KEYS[1..3] streams critical/default/low, then per entry: task hash, result key
-- ARGV[1] group, then 4 per entry: priority index (1..3), entryId, taskId, attempt
-- Returns {answered, rows}; rows: {prio, entryId, taskId|false, attempt, type, payload, key, max,
--   timeoutMs, reply, enqueuedAt, auth}
local group = ARGV[1]
local n = (#KEYS - 3) / 2
local out, answered = {}, 0
for j = 0, n - 1 do
  local tkey, rkey = KEYS[4 + 2 * j], KEYS[5 + 2 * j]
  local b = 2 + 4 * j
  local prio, eid, id, att = tonumber(ARGV[b]), ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local stored = redis.call('GET', rkey)
  if stored then
    ack_del(KEYS[prio], group, eid)
    local reply = redis.call('HGET', tkey, 'reply')
    if reply and reply ~= '' then redis.call('PUBLISH', reply, id .. ' ' .. stored) end
    answered = answered + 1
  else
    local h = redis.call('HMGET', tkey, 'type', 'payload', 'key', 'max', 'tmo', 'reply', 'enq', 'st', 'auth')
    if not h[8] then
      -- the task record is gone (deleted by an operator): nothing left to run
      ack_del(KEYS[prio], group, eid)
      table.insert(out, {prio, eid, false})
    else
      redis.call('HSET', tkey, 'st', 'active')
      table.insert(out, {prio, eid, id, att, h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[9] or ''})
    end
  end
end
return {answered, out}
