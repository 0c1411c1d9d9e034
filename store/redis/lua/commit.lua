-- commit: apply one request's effects to a session, atomically and in order, and publish them.
-- KEYS[1] session hash   <prefix>:{<sid>}
-- KEYS[2] session log    <prefix>:{<sid>}:q
-- ARGV[1] now (unix ms)          ARGV[2] key prefix        ARGV[3] session TTL (ms)
-- ARGV[4] log retention (ms)     ARGV[5] tombstone TTL (ms) ARGV[6] session id
-- ARGV[7] required pong (ms), '' for none: the commit applies only while the session's pong is
--         this and its namespace-connect deadline is ARGV[8] ('' for none); else {'ALIVE'}
-- ARGV[9] '1' when WebSockets are pumped: no member sets, no sessions to push to
-- ARGV[10] the session's channel  ARGV[11] the oldest id a room log keeps (now - retention)
-- ARGV[12..] operations, each an opcode and its arguments:
--   C nsp id        connect: socket id joins its own room and the namespace-wide room ''
--   X nsp           disconnect: rooms become "left" (readable up to now), socket removed
--   J nsp room      join           L nsp room   leave
--   D nsp data      per-socket data
--   S payload       append to this session's log
--   B n key*n channel*n members*n except tail payload   append once to each room's log: the
--                   rooms' log keys, channels and member sets ('' each when pumped), the
--                   NUL-separated rooms whose members the entry is not for, and the entry's
--                   event after its id (the Go side builds these: string building in Lua is slow)
--   P at            pong at unix ms (the pong never moves back)
--   A data          pending (incomplete binary) packet; '' clears it
--   R conn          an upgrade probe from websocket connection conn (indexed to this session);
--                   '' ends a probe that failed
--   U               the upgrade completes: the session moves to the probing connection
--   T deadline ping the sweeper's hints (unix ms; ping '0' for none)
--   Q reason owes   close ('1' owes: the client asked; later operations are ignored)
-- Returns {'OK', sid*} where the sids are websocket sessions with new packets to push (this one
-- included), or {'GONE'} (no such session, or closed), or {'ALIVE'}.
-- Every entry is published on its log's channel as an event: 'e' id ' ' #except '\n' except
-- payload, where except is the NUL-separated rooms of the namespace whose members the entry is
-- not for (store.go parses it); a change of the session's state publishes 'c' and a fresh id on
-- its channel, so that a watcher reads it again.
-- Session hash fields: pi, pt (ping interval/timeout ms), pong (ms), ps (ping sent 0/1),
-- cd (namespace-connect deadline ms, until the first connect), tr (transport), cn (websocket
-- connection), pr (probing connection), pb (pending packet), cur (read cursor id), ql (the id
-- of the session log's last entry, until the cursor passed it), cl (closed reason), ow (a noop
-- owed), n:<nsp> socket id, r:<nsp> rooms "room\0join\0...", l:<nsp> left
-- "room\0join\0leave\0...", ln (the namespaces with l: fields), d:<nsp> data.

local prefix = ARGV[2]
local ttl = ARGV[3]
local retention = ARGV[4]
local sid = ARGV[6]
local pumped = ARGV[9] == '1'
local channel = ARGV[10]
local sess, slog = KEYS[1], KEYS[2]

local h = redis.call('HMGET', sess, 'pong', 'cd', 'cl', 'tr', 'ln', 'cn')
if not h[1] or h[3] then
  -- A session whose keys expired without a close still has hints in the sweeper's index.
  redis.call('ZREM', prefix .. ':alive', sid)
  redis.call('ZREM', prefix .. ':ping', sid)
  return { 'GONE' }
end
if ARGV[7] ~= '' and (h[1] ~= ARGV[7] or (h[2] or '') ~= ARGV[8]) then
  return { 'ALIVE' }
end
local ws = h[4] == 'websocket'
local tracked = ws and not pumped -- a websocket member that commits push to

local idkey = prefix .. ':id'
local last = redis.call('GET', idkey) or '0-0'
local dash = string.find(last, '-', 1, true)
local last_time = string.sub(last, 1, dash - 1)
local last_seq -- a number once an id was drawn from the same millisecond or an earlier one
local last_changed = false
-- The next id: now's first, or the next sequence after the last id (a clock behind the last
-- id's keeps the ids in order). Times compare as digit strings, without numbers, where they can.
local function next_id()
  local t = ARGV[1]
  if #t > #last_time or (#t == #last_time and t > last_time) then
    last_time, last_seq = t, 0
  else
    last_seq = (last_seq or tonumber(string.sub(last, dash + 1))) + 1
  end
  last = last_time .. '-' .. decimal(last_seq)
  last_changed = true
  return last
end

local function member_add(nsp, room)
  local k = member_key(prefix, nsp, room)
  redis.call('SADD', k, sid)
  redis.call('PEXPIRE', k, ttl)
end
local function member_rem(nsp, room)
  redis.call('SREM', member_key(prefix, nsp, room), sid)
end

local rooms, lefts, dirty, removed = {}, {}, {}, {}
local function load_rooms(nsp)
  if not rooms[nsp] then
    local t, l = {}, split0(redis.call('HGET', sess, 'r:' .. nsp))
    for i = 1, #l, 2 do t[l[i]] = l[i + 1] end
    rooms[nsp] = t
  end
  return rooms[nsp]
end
local function load_lefts(nsp)
  if not lefts[nsp] then lefts[nsp] = split0(redis.call('HGET', sess, 'l:' .. nsp)) end
  return lefts[nsp]
end
local function leave(nsp, room)
  local r = load_rooms(nsp)
  if r[room] then
    local l = load_lefts(nsp)
    l[#l + 1] = room; l[#l + 1] = r[room]; l[#l + 1] = last
    r[room] = nil
    dirty[nsp] = true
    if tracked then member_rem(nsp, room) end
  end
end
-- every (nsp, room) of the session, from the stored hash merged with this commit's changes
local function each_room(fn)
  local flat = redis.call('HGETALL', sess)
  for k = 1, #flat, 2 do
    local f = flat[k]
    if string.sub(f, 1, 2) == 'r:' then load_rooms(string.sub(f, 3)) end
  end
  for nsp, set in pairs(rooms) do
    if not removed[nsp] then
      for room in pairs(set) do fn(nsp, room) end
    end
  end
end

local flush, flush_self = {}, false
local changed = false
local i = 12
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'C' then
    local nsp, id = ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    redis.call('HSET', sess, 'n:' .. nsp, id)
    if tracked then
      -- A second connect of the namespace replaces the socket: its rooms go.
      for room in pairs(load_rooms(nsp)) do member_rem(nsp, room) end
    end
    rooms[nsp] = { [id] = last, [''] = last }
    dirty[nsp], removed[nsp] = true, nil
    changed = true
    if tracked then member_add(nsp, id); member_add(nsp, '') end
    if h[2] then
      redis.call('HDEL', sess, 'cd')
      h[2] = false
    end
  elseif op == 'X' then
    local nsp = ARGV[i + 1]
    i = i + 2
    for room in pairs(load_rooms(nsp)) do leave(nsp, room) end
    dirty[nsp], removed[nsp] = true, true
    changed = true
  elseif op == 'J' then
    local nsp, room = ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local r = load_rooms(nsp)
    if not r[room] then
      r[room] = last
      dirty[nsp] = true
      if tracked then member_add(nsp, room) end
      changed = true
    end
  elseif op == 'L' then
    local r = load_rooms(ARGV[i + 1])
    if r[ARGV[i + 2]] then changed = true end
    leave(ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'D' then
    redis.call('HSET', sess, 'd:' .. ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'S' then
    local id = next_id()
    redis.call('XADD', slog, id, 'p', ARGV[i + 1])
    redis.call('HSET', sess, 'ql', id)
    redis.call('PUBLISH', channel, 'e' .. id .. ' 0\n' .. ARGV[i + 1])
    if ws then flush_self = true end
    i = i + 2
  elseif op == 'B' then
    local n = tonumber(ARGV[i + 1])
    local x, payload = ARGV[i + 2 + 3 * n], ARGV[i + 4 + 3 * n]
    local id = next_id()
    local event = 'e' .. id .. ARGV[i + 3 + 3 * n] .. payload
    for k = 1, n do
      local key = ARGV[i + 1 + k]
      if x ~= '' then
        redis.call('XADD', key, 'MINID', '~', ARGV[11], id, 'p', payload, 'x', x)
      else
        redis.call('XADD', key, 'MINID', '~', ARGV[11], id, 'p', payload)
      end
      redis.call('PEXPIRE', key, retention)
      redis.call('PUBLISH', ARGV[i + 1 + n + k], event)
      if not pumped then
        for _, member in ipairs(redis.call('SMEMBERS', ARGV[i + 1 + 2 * n + k])) do
          flush[member] = true
        end
      end
    end
    i = i + 5 + 3 * n
  elseif op == 'P' then
    local at = ARGV[i + 1]
    if tonumber(at) > tonumber(h[1]) then
      redis.call('HSET', sess, 'pong', at)
      h[1] = at
    end
    redis.call('HSET', sess, 'ps', 0)
    -- The member sets expire with their last member's activity: a pong keeps this one in them.
    if tracked then each_room(member_add) end
    changed = true
    i = i + 2
  elseif op == 'A' then
    if ARGV[i + 1] == '' then redis.call('HDEL', sess, 'pb') else redis.call('HSET', sess, 'pb', ARGV[i + 1]) end
    i = i + 2
  elseif op == 'R' then
    local conn = ARGV[i + 1]
    if conn == '' then
      local old = redis.call('HGET', sess, 'pr')
      if old then redis.call('DEL', prefix .. ':c:' .. old) end
      redis.call('HDEL', sess, 'pr')
    else
      redis.call('HSET', sess, 'pr', conn)
      redis.call('SET', prefix .. ':c:' .. conn, sid, 'PX', ttl)
    end
    changed = true
    i = i + 2
  elseif op == 'U' then
    local conn = redis.call('HGET', sess, 'pr')
    if conn and not ws then
      redis.call('HSET', sess, 'tr', 'websocket', 'cn', conn)
      redis.call('HDEL', sess, 'pr')
      h[6] = conn
      ws = true
      tracked = not pumped
      if tracked then each_room(member_add) end
      flush_self = true
      changed = true
    end
    i = i + 1
  elseif op == 'T' then
    redis.call('ZADD', prefix .. ':alive', ARGV[i + 1], sid)
    if ARGV[i + 2] == '0' then
      redis.call('ZREM', prefix .. ':ping', sid)
    else
      redis.call('ZADD', prefix .. ':ping', ARGV[i + 2], sid)
    end
    i = i + 3
  elseif op == 'Q' then
    if tracked then each_room(member_rem) end
    local conns = redis.call('HMGET', sess, 'cn', 'pr')
    for _, c in ipairs(conns) do
      if c then redis.call('DEL', prefix .. ':c:' .. c) end
    end
    redis.call('DEL', sess, slog)
    redis.call('HSET', sess, 'cl', ARGV[i + 1])
    if ARGV[i + 2] == '1' then redis.call('HSET', sess, 'ow', 1) end
    redis.call('PEXPIRE', sess, ARGV[5])
    redis.call('ZREM', prefix .. ':alive', sid)
    redis.call('ZREM', prefix .. ':ping', sid)
    redis.call('PUBLISH', channel, 'x' .. next_id() .. ' ' .. ARGV[i + 2] .. ARGV[i + 1])
    redis.call('SET', idkey, last)
    local out = { 'OK' }
    flush[sid] = nil
    for member in pairs(flush) do out[#out + 1] = member end
    return out
  else
    return redis.error_reply('commit: unknown operation ' .. tostring(op))
  end
end

local left_nsps = nil
for nsp in pairs(dirty) do
  if removed[nsp] then
    redis.call('HDEL', sess, 'n:' .. nsp, 'r:' .. nsp, 'd:' .. nsp)
  else
    local flat = {}
    for room, join in pairs(rooms[nsp]) do flat[#flat + 1] = room; flat[#flat + 1] = join end
    redis.call('HSET', sess, 'r:' .. nsp, table.concat(flat, '\0'))
  end
  if lefts[nsp] and #lefts[nsp] > 0 then
    redis.call('HSET', sess, 'l:' .. nsp, table.concat(lefts[nsp], '\0'))
    left_nsps = left_nsps or {}
    left_nsps[nsp] = true
  end
end
if left_nsps then
  -- ln lists the namespaces with left rooms, for the ack that prunes them.
  for _, nsp in ipairs(split0(h[5])) do left_nsps[nsp] = true end
  local list = {}
  for nsp in pairs(left_nsps) do list[#list + 1] = nsp end
  redis.call('HSET', sess, 'ln', table.concat(list, '\0'))
end
if changed then
  redis.call('PUBLISH', channel, 'c' .. next_id())
end
if last_changed then redis.call('SET', idkey, last) end
redis.call('PEXPIRE', sess, ttl)
redis.call('PEXPIRE', slog, ttl)
local conn = ws and h[6]
if conn then redis.call('PEXPIRE', prefix .. ':c:' .. conn, ttl) end
if flush_self and not pumped then flush[sid] = true end
local out = { 'OK' }
for member in pairs(flush) do out[#out + 1] = member end
return out
