-- include: _fence.lua
-- Apply a registered task's Redis effect and record its outcome in one step, at most once per task.
-- KEYS[1] the task's effect ledger entry ({p}:fx:<taskId>), KEYS[2] the partition's epoch counter,
-- KEYS[3..] every key the effect touches (declared, so that in a Redis Cluster they are checked to
-- share the partition's slot: callers build them with the task's {p} tag).
-- ARGV[1] the fencing epoch the caller holds, ARGV[2] the outcome (JSON), ARGV[3] the ledger TTL in
-- ms, ARGV[4] the commands as JSON: [[command, arg, …], …].
-- Returns {1, outcome} when this call applied the effect, {0, stored outcome} when the task had
-- already applied it (a re-run after a crash), or an E_STALE_EPOCH error when the lease moved on;
-- in both of the latter cases nothing is written.
local refused = stale_epoch(KEYS[2], ARGV[1])
if refused then return redis.error_reply(refused) end
local stored = redis.call('GET', KEYS[1])
if stored then return {0, stored} end
for _, cmd in ipairs(cjson.decode(ARGV[4])) do redis.call(unpack(cmd)) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, ARGV[2]}
