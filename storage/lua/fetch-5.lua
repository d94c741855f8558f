-- include: _lib.lua
-- Deliver new entries of one partition to a consumer, up to a count per priority. Only the stream
-- entries: the consumer loads their tasks with load.lua, whose keys it can then declare.
-- KEYS[1..3] streams critical/default/low, KEYS[4] idle flag, KEYS[5] the partition's lease
-- ARGV: group, consumer, count critical, count default, count low,
--       then per priority '1' if the consumer believes it exhausted, then the lease value it holds
-- Fenced: a consumer whose lease has moved on (expired while it was busy, or taken again under a new
-- epoch) gets nothing: entries it pulled now would sit in its pending list while the partition's
-- current owner ran later ones of the same key first.
-- Lanes believed exhausted are read only when every other lane came back short, so that a busy
-- lane costs one XREADGROUP per fetch. When all three lanes were read and all came back short, the
-- idle flag is set in the same atomic step, so that the next enqueue publishes a wake-up.
-- Returns {shortMask, rows, readMask}; rows: {prio, entryId, taskId|false, attempt}
if redis.call('GET', KEYS[5]) ~= ARGV[9] then return redis.error_reply('E_STALE_EPOCH lease not held') end
local group, consumer = ARGV[1], ARGV[2]
local out, short, readm = {}, 0, 0

local function read(i, n)
  local r = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n, 'STREAMS', KEYS[i], '>')
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'NOGROUP', 1, true) then
      redis.call('XGROUP', 'CREATE', KEYS[i], group, '0', 'MKSTREAM')
      r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n, 'STREAMS', KEYS[i], '>')
    else
      error(r.err)
    end
  end
  local entries = {}
  if type(r) == 'table' and r[1] then entries = r[1][2] end
  readm = readm + 2 ^ (i - 1)
  if #entries < n then short = short + 2 ^ (i - 1) end
  entry_rows(KEYS[i], group, i, entries, out)
  return #entries >= n
end

local full = false
for i = 1, 3 do
  local n = tonumber(ARGV[2 + i])
  if n > 0 and ARGV[5 + i] ~= '1' then
    if read(i, n) then full = true end
  end
end
if not full then
  for i = 1, 3 do
    local n = tonumber(ARGV[2 + i])
    if n > 0 and ARGV[5 + i] == '1' then read(i, n) end
  end
end
if readm == 7 and short == 7 then redis.call('SET', KEYS[4], '1') end
return {short, out, readm}
