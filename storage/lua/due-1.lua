-- include: _lib.lua
-- The scheduled tasks of one partition that are due by Redis's clock (delayed enqueues and retries),
-- read first so that promote.lua can declare their task hashes.
-- KEYS[1] scheduled zset; ARGV[1] limit
-- Returns {dueIds, ms until the next task due after them or -1}
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if first[2] then return {due, math.max(0, tonumber(first[2]) - now)} end
return {due, -1}
