-- Appends entries to an account's audit stream, only if the stream's last entry is the one the node
-- chained them to (compare-and-append): two nodes appending for one account at once never fork the
-- chain; the loser gets the real last entry back and chains again. The node computes hashes and MACs
-- (the key never reaches Redis); this script only checks the link and writes.
-- KEYS[1] the account's audit stream
-- ARGV[1] hash of the entry they follow ('' for the first), ARGV[2] MINID for retention ('0': keep
--   all), then 3 per entry: e (the entry's JSON), h (its hash), m (its MAC)
-- Returns {1} when appended, or {0, h, e} of the stream's actual last entry ('' when empty).
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local lh, le = '', ''
if last then
  local f = last[2]
  for i = 1, #f, 2 do
    if f[i] == 'h' then lh = f[i + 1] elseif f[i] == 'e' then le = f[i + 1] end
  end
end
if lh ~= ARGV[1] then return {0, lh, le} end
for i = 3, #ARGV, 3 do
  if ARGV[2] ~= '0' then
    redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[2], '*', 'e', ARGV[i], 'h', ARGV[i + 1], 'm', ARGV[i + 2])
  else
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 'h', ARGV[i + 1], 'm', ARGV[i + 2])
  end
end
return {1}
