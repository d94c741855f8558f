-- Delete a vault record under the partition's fencing epoch, recording the task that deleted it (the
-- effect ledger) in the same step.
-- KEYS[1] record, KEYS[2] the partition's epoch counter, KEYS[3] the task's effect ledger entry.
-- ARGV[1] fencing epoch, ARGV[2] version read, ARGV[3] the ledger entry ('' for none), ARGV[4] its TTL.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('E_STALE_EPOCH partition epoch is ' .. current .. ', writer holds ' .. ARGV[1])
end
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.error_reply('E_CONFLICT the task already applied its effect')
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version == 0 then return redis.error_reply('E_UNKNOWN_VAULT no such vault') end
if version ~= tonumber(ARGV[2]) then return redis.error_reply('E_CONFLICT vault changed since it was read') end
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
return 1
