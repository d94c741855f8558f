-- Write a vault record under the partition's fencing epoch, with optimistic versioning.
-- KEYS[1] record, KEYS[2] the partition's epoch counter (bumped by every lease acquisition).
-- ARGV[1] fencing epoch the writer holds, ARGV[2] version the writer read (0: the record must not
-- exist), ARGV[3..] field, value pairs. Returns the new version, or an error reply whose text starts
-- with a stable code: a node whose lease was taken over can never overwrite the new owner's state.
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.error_reply('E_STALE_EPOCH partition epoch is ' .. current .. ', writer holds ' .. ARGV[1])
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then
  if ARGV[2] == '0' then return redis.error_reply('E_VAULT_EXISTS vault exists') end
  if version == 0 then return redis.error_reply('E_UNKNOWN_VAULT vault was deleted') end
  return redis.error_reply('E_CONFLICT vault changed since it was read')
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 'version'
fields[#fields + 1] = tostring(version + 1)
redis.call('HSET', KEYS[1], unpack(fields))
return version + 1
