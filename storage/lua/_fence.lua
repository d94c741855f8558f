-- Shared by the scripts that write state under a partition lease (inlined where a script says
-- "-- include: _fence.lua"): the writer must hold the partition's current fencing epoch.

-- An error text when the partition's epoch (GET epoch_key) is not `fence`, else nil.
local function stale_epoch(epoch_key, fence)
  local current = tonumber(redis.call('GET', epoch_key) or '0')
  if current ~= tonumber(fence) then
    return 'E_STALE_EPOCH partition epoch is ' .. current .. ', writer holds ' .. fence
  end
  return nil
end

-- An error text when the write belongs to a task (entry ~= '') whose ledger entry exists, else nil.
local function already_applied(ledger_key, entry)
  if entry ~= '' and redis.call('EXISTS', ledger_key) == 1 then return 'E_CONFLICT the task already applied its effect' end
  return nil
end
