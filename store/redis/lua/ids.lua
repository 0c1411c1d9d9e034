-- Entry ids and NUL-separated lists, for the scripts that compare or store them (the Go side
-- prepends the helper files a script uses, see store.go).
-- Entry ids are Redis stream ids "<ms>-<seq>" drawn from one store-wide sequence (key <prefix>:id),
-- so entries of different logs compare in commit order.

-- Parsed ids are kept for the rest of the script call: a fetch compares its cursor with every
-- join and entry id.
local parsed_ids = {}
local function parse_id(s)
  local p = parsed_ids[s]
  if not p then
    local d = string.find(s, '-', 1, true)
    p = { tonumber(string.sub(s, 1, d - 1)), tonumber(string.sub(s, d + 1)) }
    parsed_ids[s] = p
  end
  return p[1], p[2]
end

local function id_lt(a, b)
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  if am ~= bm then return am < bm end
  return as < bs
end

local function id_max(a, b)
  if id_lt(a, b) then return b end
  return a
end

local function fmt_id(ms, seq)
  return string.format('%.0f-%.0f', ms, seq)
end

-- The id right after id: XTRIM MINID with it removes id and everything before.
local function id_after(id)
  local ms, seq = parse_id(id)
  return fmt_id(ms, seq + 1)
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
