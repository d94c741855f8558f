-- include: _fence.lua
-- Write a vault record under the partition's fencing epoch, with optimistic versioning, and record the
-- task that caused the write (the effect ledger) in the same step.
-- KEYS[1] record, KEYS[2] the partition's epoch counter (bumped by every lease acquisition),
-- KEYS[3] the task's effect ledger entry.
-- ARGV[1] fencing epoch the writer holds, ARGV[2] version the writer read (0: the record must not
-- exist), ARGV[3] the ledger entry ('' when the write belongs to no task), ARGV[4] its TTL in ms,
-- ARGV[5..] field, value pairs. Returns the new version, or an error reply whose text starts with a
-- stable code: a node whose lease was taken over can never overwrite the new owner's state, and a task
-- that re-runs after a crash finds its ledger entry instead of writing twice.
local refused = stale_epoch(KEYS[2], ARGV[1]) or already_applied(KEYS[3], ARGV[3])
if refused then return redis.error_reply(refused) end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then
  if ARGV[2] == '0' then return redis.error_reply('E_VAULT_EXISTS vault exists') end
  if version == 0 then return redis.error_reply('E_UNKNOWN_VAULT vault was deleted') end
  return redis.error_reply('E_CONFLICT vault changed since it was read')
end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 'version'
fields[#fields + 1] = tostring(version + 1)
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
return version + 1
