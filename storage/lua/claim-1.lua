-- include: _lib.lua
-- Take over pending entries of one stream (delivered to a consumer that died or gave the partition up).
-- Only the lease owner calls this: with min-idle-time 0 on taking a partition over, and with a long
-- one as a periodic sweep for entries whose outcome could not be written.
-- KEYS[1] stream; ARGV: group, consumer, cursor, count, partition prefix, priority index, min idle ms
-- Returns {nextCursor, answered, rows}
local r = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[7] or '0'), ARGV[3], 'COUNT', ARGV[4])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'NOGROUP', 1, true) then
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
    return {'0-0', 0, {}}
  end
  return redis.error_reply(r.err)
end
local out = {}
local answered = load_entries(KEYS[1], ARGV[1], ARGV[5], tonumber(ARGV[6]), r[2], out)
return {r[1], answered, out}
