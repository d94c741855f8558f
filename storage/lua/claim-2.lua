-- include: _lib.lua
-- Take over pending entries of one stream (delivered to a consumer that died or gave the partition up).
-- Only the lease owner calls this: with min-idle-time 0 on taking a partition over, and with a long
-- one as a periodic sweep for entries whose outcome could not be written. Like fetch-4.lua it returns
-- entries only; load.lua loads their tasks.
-- KEYS[1] stream, KEYS[2] the partition's lease; ARGV: group, consumer, cursor, count, priority index,
-- min idle ms, the lease value the consumer holds (fenced like fetch-5.lua)
-- Returns {nextCursor, rows}; rows: {prio, entryId, taskId|false, attempt}
if redis.call('GET', KEYS[2]) ~= ARGV[7] then return redis.error_reply('E_STALE_EPOCH lease not held') end
local r = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[6] or '0'), ARGV[3], 'COUNT', ARGV[4])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'NOGROUP', 1, true) then
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
    return {'0-0', {}}
  end
  return redis.error_reply(r.err)
end
local out = {}
entry_rows(KEYS[1], ARGV[1], tonumber(ARGV[5]), r[2], out)
return {r[1], out}
