-- include: _lib.lua
-- Deliver new entries of one partition to a consumer, up to a count per priority.
-- KEYS[1..3] streams critical/default/low, KEYS[4] idle flag
-- ARGV: group, consumer, count critical, count default, count low, partition prefix,
--       then per priority '1' if the consumer believes it exhausted
-- Lanes believed exhausted are read only when every other lane came back short, so that a busy
-- lane costs one XREADGROUP per fetch. When all three lanes were read and all came back short, the
-- idle flag is set in the same atomic step, so that the next enqueue publishes a wake-up.
-- Returns {shortMask, answered, rows, readMask}
local group, consumer, pfx = ARGV[1], ARGV[2], ARGV[6]
local out, short, readm, answered = {}, 0, 0, 0

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
  answered = answered + load_entries(KEYS[i], group, pfx, i, entries, out)
  return #entries >= n
end

local full = false
for i = 1, 3 do
  local n = tonumber(ARGV[2 + i])
  if n > 0 and ARGV[6 + i] ~= '1' then
    if read(i, n) then full = true end
  end
end
if not full then
  for i = 1, 3 do
    local n = tonumber(ARGV[2 + i])
    if n > 0 and ARGV[6 + i] == '1' then read(i, n) end
  end
end
if readm == 7 and short == 7 then redis.call('SET', KEYS[4], '1') end
return {short, answered, out, readm}
