-- include: _lib.lua
-- Move due scheduled tasks (delayed enqueues and retries) into their priority streams.
-- KEYS[1] scheduled zset, KEYS[2..4] streams critical/default/low
-- ARGV: partition prefix, limit
-- Returns {moved, ms until the next due task or -1}
local pfx = ARGV[1]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local stream = { critical = KEYS[2], default = KEYS[3], low = KEYS[4] }
for _, id in ipairs(due) do
  local tkey = pfx .. 't:' .. id
  local h = redis.call('HMGET', tkey, 'prio', 'att')
  if h[1] then
    redis.call('XADD', stream[h[1]] or KEYS[3], '*', 'i', id, 'a', h[2] or '1')
    redis.call('HSET', tkey, 'st', 'pending')
  end
  redis.call('ZREM', KEYS[1], id)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then return {#due, math.max(0, tonumber(first[2]) - now)} end
return {#due, -1}
