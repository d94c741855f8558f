-- include: _lib.lua
-- Move due scheduled tasks (found by due-1.lua) into their priority streams. A task that is no longer
-- scheduled, or whose due time moved, since due-1.lua read it is left alone.
-- KEYS[1] scheduled zset, KEYS[2..4] streams critical/default/low, KEYS[5..] task hashes
-- ARGV: one task id per task hash
-- Returns {moved, ms until the next due task or -1}
local now = now_ms()
local stream = { critical = KEYS[2], default = KEYS[3], low = KEYS[4] }
local moved = 0
for j = 5, #KEYS do
  local id = ARGV[j - 4]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now then
    local h = redis.call('HMGET', KEYS[j], 'prio', 'att')
    if h[1] then
      redis.call('XADD', stream[h[1]] or KEYS[3], '*', 'i', id, 'a', h[2] or '1')
      redis.call('HSET', KEYS[j], 'st', 'pending')
      moved = moved + 1
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then return {moved, math.max(0, tonumber(first[2]) - now)} end
return {moved, -1}
