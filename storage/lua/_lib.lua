-- Shared helpers of the ingress scripts, inlined where a script says "-- include: _lib.lua"
-- (storage/scripts.ts; Lua scripts cannot import).
-- Keys of one partition are built from the partition prefix "<prefix>:{p}:" passed in ARGV: they all
-- carry the same hash tag as the declared KEYS, so a script never leaves its slot.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ack_del(stream, group, eid)
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
end

-- Turns stream entries into tasks for the consumer. Entries that are answered or unusable are settled
-- here, atomically with their delivery: a task whose result is already stored (it was delivered again
-- after a crash) is acknowledged and its stored result re-published instead of running it twice.
-- out rows: {prio, entryId, taskId|false, attempt, type, payload, key, max, timeoutMs, reply, enqueuedAt}
local function load_entries(stream, group, pfx, prio, entries, out)
  local answered = 0
  for _, e in ipairs(entries) do
    local eid, f = e[1], e[2]
    local id, att = nil, '1'
    if type(f) == 'table' then
      for i = 1, #f, 2 do
        if f[i] == 'i' then id = f[i + 1] elseif f[i] == 'a' then att = f[i + 1] end
      end
    end
    if not id then
      ack_del(stream, group, eid)
      table.insert(out, {prio, eid, false})
    else
      local tkey = pfx .. 't:' .. id
      local stored = redis.call('GET', pfx .. 'result:' .. id)
      if stored then
        ack_del(stream, group, eid)
        local reply = redis.call('HGET', tkey, 'reply')
        if reply and reply ~= '' then redis.call('PUBLISH', reply, id .. ' ' .. stored) end
        answered = answered + 1
      else
        local h = redis.call('HMGET', tkey, 'type', 'payload', 'key', 'max', 'tmo', 'reply', 'enq', 'st')
        if not h[8] then
          -- the task record is gone (deleted by an operator): nothing left to run
          ack_del(stream, group, eid)
          table.insert(out, {prio, eid, false})
        else
          redis.call('HSET', tkey, 'st', 'active')
          table.insert(out, {prio, eid, id, att, h[1], h[2], h[3], h[4], h[5], h[6], h[7]})
        end
      end
    end
  end
  return answered
end
