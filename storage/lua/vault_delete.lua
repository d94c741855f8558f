-- Delete a vault record under the partition's fencing epoch.
-- KEYS[1] record, KEYS[2] the partition's epoch counter; ARGV[1] fencing epoch, ARGV[2] version read.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('E_STALE_EPOCH partition epoch is ' .. current .. ', writer holds ' .. ARGV[1])
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version == 0 then return redis.error_reply('E_UNKNOWN_VAULT no such vault') end
if version ~= tonumber(ARGV[2]) then return redis.error_reply('E_CONFLICT vault changed since it was read') end
redis.call('DEL', KEYS[1])
return 1
