-- Key and channel names, and the events published on channels (store.go parses them).

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
