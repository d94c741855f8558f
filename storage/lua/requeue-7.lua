-- Put a dead letter back into its stream as a fresh task (attempt 1); its stored error is dropped.
-- KEYS[1] task hash, KEYS[2] dead zset, KEYS[3..5] streams critical/default/low, KEYS[6] result,
-- KEYS[7] idle flag; ARGV: taskId, wakeChannel
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
local prio = redis.call('HGET', KEYS[1], 'prio')
local stream = { critical = KEYS[3], default = KEYS[4], low = KEYS[5] }
redis.call('HSET', KEYS[1], 'st', 'pending', 'att', 1)
redis.call('HDEL', KEYS[1], 'err', 'done', 'due')
redis.call('DEL', KEYS[6])
redis.call('XADD', stream[prio] or KEYS[4], '*', 'i', ARGV[1], 'a', '1')
if redis.call('DEL', KEYS[7]) == 1 then redis.call('SPUBLISH', ARGV[2], 'q') end
return 1
