-- include: _fence.lua
-- Delete a vault record under the partition's fencing epoch, recording the task that deleted it (the
-- effect ledger) in the same step.
-- KEYS[1] record, KEYS[2] the partition's epoch counter, KEYS[3] the task's effect ledger entry.
-- ARGV[1] fencing epoch, ARGV[2] version read, ARGV[3] the ledger entry ('' for none), ARGV[4] its TTL.
local refused = stale_epoch(KEYS[2], ARGV[1]) or already_applied(KEYS[3], ARGV[3])
if refused then return redis.error_reply(refused) end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version == 0 then return redis.error_reply('E_UNKNOWN_VAULT no such vault') end
if version ~= tonumber(ARGV[2]) then return redis.error_reply('E_CONFLICT vault changed since it was read') end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
return 1
