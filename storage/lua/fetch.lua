-- Deliver new entries of one partition to a consumer, up to a count per priority.
-- KEYS[1..3] streams critical/default/low, KEYS[4] idle flag
-- ARGV: group, consumer, count critical, count default, count low, partition prefix
-- Returns {exhaustedMask, answered, rows...}: bit i set when priority i returned fewer than asked.
-- When every priority was asked for at least one entry and all came back short, the idle flag is set
-- in the same atomic step, so that the next enqueue publishes a wake-up (no lost wake-ups).
local group, consumer, pfx = ARGV[1], ARGV[2], ARGV[6]
local out, mask, answered, asked = {}, 0, 0, 0
for i = 1, 3 do
  local n = tonumber(ARGV[2 + i])
  if n > 0 then
    asked = asked + 1
    local r = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n, 'STREAMS', KEYS[i], '>')
    if type(r) == 'table' and r.err then
      if string.find(r.err, 'NOGROUP', 1, true) then
        redis.call('XGROUP', 'CREATE', KEYS[i], group, '0', 'MKSTREAM')
        r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n, 'STREAMS', KEYS[i], '>')
      else
        return redis.error_reply(r.err)
      end
    end
    local entries = {}
    if type(r) == 'table' and r[1] then entries = r[1][2] end
    if #entries < n then mask = mask + 2 ^ (i - 1) end
    answered = answered + load_entries(KEYS[i], group, pfx, i, entries, out)
  end
end
if asked == 3 and mask == 7 then redis.call('SET', KEYS[4], '1') end
return {mask, answered, out}
