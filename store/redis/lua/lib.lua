-- Helpers shared by every script; the Go side prepends this file to each of them.
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

-- The namespace's length keeps "<nsp>:<room>" unambiguous whatever either contains.
local function room_suffix(nsp, room)
  return #nsp .. ':' .. nsp .. ':' .. room
end

-- room_key_base(prefix, nsp) .. room .. '}' is room_key(prefix, nsp, room).
local function room_key_base(prefix, nsp)
  return prefix .. ':r:{' .. #nsp .. ':' .. nsp .. ':'
end

local function room_key(prefix, nsp, room)
  return room_key_base(prefix, nsp) .. room .. '}'
end

local function room_channel(prefix, nsp, room)
  return prefix .. ':w:r:' .. room_suffix(nsp, room)
end

local function session_channel(prefix, sid)
  return prefix .. ':w:s:' .. sid
end

-- The websocket members of a room: the sessions a broadcast there must be pushed to (polling
-- members read the room log on their own, so only websocket sessions are listed).
local function member_key(prefix, nsp, room)
  return prefix .. ':m:{' .. room_suffix(nsp, room) .. '}'
end

-- An entry event: 'e' id ' ' #except '\n' except payload, where except is the NUL-separated rooms
-- of the namespace whose members the entry is not for (store.go parses it).
local function entry_event(id, except, payload)
  return 'e' .. id .. ' ' .. #except .. '\n' .. except .. payload
end

-- A lease's value is "<token> <expiry ms>"; it is held while the expiry is in the future.
local function lease_holder(v, now)
  if not v then return nil end
  local sp = string.find(v, ' ', 1, true)
  if tonumber(string.sub(v, sp + 1)) <= now then return nil end
  return string.sub(v, 1, sp - 1)
end
