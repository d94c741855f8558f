-- Shared helpers of the ingress scripts, inlined where a script says "-- include: _lib.lua"
-- (storage/scripts.ts; Lua scripts cannot import). Every key they touch is passed in by the caller.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ack_del(stream, group, eid)
  redis.call('XACK', stream, group, eid)
  redis.call('XDEL', stream, eid)
end

-- Stream entries as rows {prio, entryId, taskId, attempt}. An entry without a task id (written by
-- something else) is acknowledged and dropped here, and reported as {prio, entryId, false}.
local function entry_rows(stream, group, prio, entries, out)
  for _, e in ipairs(entries) do
    local eid, f = e[1], e[2]
    local id, att = nil, '1'
    if type(f) == 'table' then
      for i = 1, #f, 2 do
        if f[i] == 'i' then id = f[i + 1] elseif f[i] == 'a' then att = f[i + 1] end
      end
    end
    if id then
      table.insert(out, {prio, eid, id, att})
    else
      ack_del(stream, group, eid)
      table.insert(out, {prio, eid, false})
    end
  end
end
