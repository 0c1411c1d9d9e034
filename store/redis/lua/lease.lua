-- A lease's value is "<token> <expiry ms>"; it is held while the expiry is in the future.
local function lease_holder(v, now)
  if not v then return nil end
  local sp = string.find(v, ' ', 1, true)
  if tonumber(string.sub(v, sp + 1)) <= now then return nil end
  return string.sub(v, 1, sp - 1)
end
