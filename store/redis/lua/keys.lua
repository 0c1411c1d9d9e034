-- Key names for the scripts that build them (the Go side builds the rest: keys.go).

-- decimal is n's decimal digits; short ones without Lua's number formatting (a sprintf, about a
-- microsecond): names and except lists are short.
local function decimal(n)
  if n < 10 then return string.char(48 + n) end
  if n < 100 then
    local units = n % 10
    return string.char(48 + (n - units) / 10, 48 + units)
  end
  return tostring(n)
end

-- The namespace's length keeps "<nsp>:<room>" unambiguous whatever either contains.
local function room_suffix(nsp, room)
  return decimal(#nsp) .. ':' .. nsp .. ':' .. room
end

-- room_key_base(prefix, nsp) .. room .. '}' is room_key(prefix, nsp, room).
local function room_key_base(prefix, nsp)
  return prefix .. ':r:{' .. decimal(#nsp) .. ':' .. nsp .. ':'
end

local function room_key(prefix, nsp, room)
  return room_key_base(prefix, nsp) .. room .. '}'
end

-- The websocket members of a room: the sessions a broadcast there must be pushed to (polling
-- members read the room log on their own, so only websocket sessions are listed).
local function member_key(prefix, nsp, room)
  return prefix .. ':m:{' .. room_suffix(nsp, room) .. '}'
end
