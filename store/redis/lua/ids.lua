-- Entry ids and NUL-separated lists, for the scripts that compare or store them (the Go side
-- prepends the helper files a script uses, see store.go).
-- Entry ids are Redis stream ids "<ms>-<seq>" drawn from one store-wide sequence (key <prefix>:id),
-- so entries of different logs compare in commit order.

-- id_lt compares two ids without converting them to numbers where it can (a script compares
-- many ids, a read sorts its entries, and a conversion costs a few hundred nanoseconds). Ids have
-- no leading zeros: a longer time part is a later time; two ids whose parts have the same lengths
-- compare as strings (digit strings of one length collate in their numeric order in any locale,
-- and the '-' is at the same place in both); otherwise the time parts decide, then the sequences'
-- lengths.
local function id_lt(a, b)
  if a == b then return false end
  local da, db = string.find(a, '-', 1, true), string.find(b, '-', 1, true)
  if da ~= db then return da < db end
  if #a == #b then return a < b end
  local ta, tb = string.sub(a, 1, da - 1), string.sub(b, 1, db - 1)
  if ta ~= tb then return tonumber(ta) < tonumber(tb) end
  return #a < #b
end

local function id_max(a, b)
  if id_lt(a, b) then return b end
  return a
end

-- Room names may hold any byte but NUL; lists of them are NUL-separated.
local function split0(s)
  local t = {}
  if not s or s == '' then return t end
  local i = 1
  while true do
    local j = string.find(s, '\0', i, true)
    if not j then
      t[#t + 1] = string.sub(s, i)
      return t
    end
    t[#t + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end
