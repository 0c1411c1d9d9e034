-- commit: apply one request's effects to a session, atomically and in order.
-- KEYS[1] session hash   <prefix>:{<sid>}
-- KEYS[2] session log    <prefix>:{<sid>}:q
-- ARGV[1] now (unix ms)          ARGV[2] key prefix        ARGV[3] session TTL (ms)
-- ARGV[4] log retention (ms)     ARGV[5] tombstone TTL (ms) ARGV[6] session id
-- ARGV[7] '1' if the commit applies only to an expired session (sweeper), else '0'
-- ARGV[8..] operations, each an opcode and its arguments:
--   C nsp id        connect: socket id joins its own room and the namespace-wide room ''
--   X nsp           disconnect: rooms become "left" (readable up to now), socket removed
--   J nsp room      join           L nsp room   leave
--   D nsp data      per-socket data
--   S payload       queue for this session
--   B nsp n room*n m except*m payload   queue once per room log, for members not in except
--   P               pong
--   A data          pending (incomplete binary) packet; '' clears it
--   R conn          an upgrade probe from websocket connection conn (indexed to this session);
--                   '' ends a probe that failed
--   U               the upgrade completes: the session moves to the probing connection
--   Q reason        close (later operations are ignored)
-- Returns {'OK', sid*} where the sids are websocket sessions with new packets to push (this one
-- included), or {'GONE'} (no such session, or closed), or {'ALIVE'} (ARGV[7] and not expired).
-- Session hash fields: pi, pt (ping interval/timeout ms), pong (ms), ps (ping sent 0/1),
-- cd (namespace-connect deadline ms, until the first connect), tr (transport), cn (websocket
-- connection), pr (probing connection), pb (pending packet), cur (fetch cursor id),
-- poll/pollx (held GET or flush lease token/expiry ms), cl (closed reason),
-- n:<nsp> socket id, r:<nsp> rooms "room\0join\0...", l:<nsp> left "room\0join\0leave\0...",
-- d:<nsp> data.

local now = tonumber(ARGV[1])
local prefix = ARGV[2]
local ttl = ARGV[3]
local retention = tonumber(ARGV[4])
local sid = ARGV[6]
local sess, slog = KEYS[1], KEYS[2]

local h = redis.call('HMGET', sess, 'pong', 'pi', 'pt', 'cl', 'cd', 'tr', 'ps')
if not h[1] or h[4] then
  -- A session whose keys expired without a close still has a deadline in the liveness index.
  redis.call('ZREM', prefix .. ':alive', sid)
  redis.call('ZREM', prefix .. ':ping', sid)
  return { 'GONE' }
end
if ARGV[7] == '1' and not expired(now, h[1], h[2], h[3], h[5]) then
  return { 'ALIVE' }
end
local ws = h[6] == 'websocket'

local idkey = prefix .. ':id'
local last = redis.call('GET', idkey) or '0-0'
local last_changed = false
local function next_id()
  local lm, ls = parse_id(last)
  if now > lm then last = fmt_id(now, 0) else last = fmt_id(lm, ls + 1) end
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
    if ws then member_rem(nsp, room) end
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
local wake, wake_self = {}, false
-- rewatch: whoever waits for the session (a pump, a held GET) fetches again to learn what
-- changed: new rooms to watch, or the pong that moves the next ping
local rewatch = false
local i = 8
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'C' then
    local nsp, id = ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    redis.call('HSET', sess, 'n:' .. nsp, id)
    if ws then
      -- A second connect of the namespace replaces the socket: its rooms go.
      for room in pairs(load_rooms(nsp)) do member_rem(nsp, room) end
    end
    rooms[nsp] = { [id] = last, [''] = last }
    dirty[nsp], removed[nsp] = true, nil
    rewatch = true
    if ws then member_add(nsp, id); member_add(nsp, '') end
    if h[5] then
      redis.call('HDEL', sess, 'cd')
      redis.call('ZADD', prefix .. ':alive', tonumber(h[1]) + tonumber(h[2]) + tonumber(h[3]), sid)
      h[5] = false
    end
  elseif op == 'X' then
    local nsp = ARGV[i + 1]
    i = i + 2
    for room in pairs(load_rooms(nsp)) do leave(nsp, room) end
    dirty[nsp], removed[nsp] = true, true
  elseif op == 'J' then
    local nsp, room = ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local r = load_rooms(nsp)
    if not r[room] then
      r[room] = last
      dirty[nsp] = true
      if ws then member_add(nsp, room) end
      rewatch = true
    end
  elseif op == 'L' then
    leave(ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'D' then
    redis.call('HSET', sess, 'd:' .. ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  elseif op == 'S' then
    redis.call('XADD', slog, next_id(), 'p', ARGV[i + 1])
    wake_self = true
    i = i + 2
  elseif op == 'B' then
    local nsp = ARGV[i + 1]
    local n = tonumber(ARGV[i + 2])
    local m = tonumber(ARGV[i + 3 + n])
    local except = {}
    for k = 1, m do except[k] = ARGV[i + 3 + n + k] end
    local payload = ARGV[i + 4 + n + m]
    local id = next_id()
    local minid = fmt_id(now - retention, 0)
    for k = 1, n do
      local room = ARGV[i + 2 + k]
      local key = room_key(prefix, nsp, room)
      if m > 0 then
        redis.call('XADD', key, 'MINID', '~', minid, id, 'p', payload, 'x', table.concat(except, '\0'))
      else
        redis.call('XADD', key, 'MINID', '~', minid, id, 'p', payload)
      end
      redis.call('PEXPIRE', key, retention)
      wake[room_channel(prefix, nsp, room)] = true
      for _, member in ipairs(redis.call('SMEMBERS', member_key(prefix, nsp, room))) do
        flush[member] = true
      end
    end
    i = i + 5 + n + m
  elseif op == 'P' then
    redis.call('HSET', sess, 'pong', now, 'ps', 0)
    h[1], h[7] = now, '0'
    local deadline = now + tonumber(h[2]) + tonumber(h[3])
    if h[5] then deadline = math.min(deadline, tonumber(h[5])) end
    redis.call('ZADD', prefix .. ':alive', deadline, sid)
    if ws then
      redis.call('ZADD', prefix .. ':ping', now + tonumber(h[2]), sid)
      -- The member sets expire with their last member's activity: a pong keeps this one in them.
      each_room(member_add)
      rewatch = true -- a pump waiting for the deadline learns when the next ping is due
    end
    i = i + 1
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
      wake_self = true -- a held GET must end (with a noop) so that the client can finish the upgrade
    end
    i = i + 2
  elseif op == 'U' then
    local conn = redis.call('HGET', sess, 'pr')
    if conn and not ws then
      redis.call('HSET', sess, 'tr', 'websocket', 'cn', conn)
      redis.call('HDEL', sess, 'pr', 'poll', 'pollx')
      ws = true
      each_room(member_add)
      if h[7] ~= '1' then redis.call('ZADD', prefix .. ':ping', tonumber(h[1]) + tonumber(h[2]), sid) end
      flush_self = true
      wake_self = true -- a GET waiting for the upgrade's outcome learns it
    end
    i = i + 1
  elseif op == 'Q' then
    if last_changed then redis.call('SET', idkey, last) end
    if ws then each_room(member_rem) end
    local conns = redis.call('HMGET', sess, 'cn', 'pr')
    for _, c in ipairs(conns) do
      if c then redis.call('DEL', prefix .. ':c:' .. c) end
    end
    redis.call('DEL', sess, slog)
    redis.call('HSET', sess, 'cl', ARGV[i + 1])
    -- A close the client asked for owes a noop to the GET that learns of it first (held or
    -- racing the POST); later requests find the session unknown. A WebSocket session has no
    -- GET waiting: it owes nothing.
    if ARGV[i + 1] == 'transport close' and not ws then redis.call('HSET', sess, 'ow', 1) end
    redis.call('PEXPIRE', sess, ARGV[5])
    redis.call('ZREM', prefix .. ':alive', sid)
    redis.call('ZREM', prefix .. ':ping', sid)
    redis.call('PUBLISH', session_channel(prefix, sid), 'c')
    for ch in pairs(wake) do redis.call('PUBLISH', ch, '1') end
    local out = { 'OK' }
    flush[sid] = nil
    for member in pairs(flush) do out[#out + 1] = member end
    return out
  else
    return redis.error_reply('commit: unknown operation ' .. tostring(op))
  end
end

for nsp in pairs(dirty) do
  if removed[nsp] then
    redis.call('HDEL', sess, 'n:' .. nsp, 'r:' .. nsp, 'd:' .. nsp)
  else
    local flat = {}
    for room, join in pairs(rooms[nsp]) do flat[#flat + 1] = room; flat[#flat + 1] = join end
    redis.call('HSET', sess, 'r:' .. nsp, table.concat(flat, '\0'))
  end
  if lefts[nsp] then redis.call('HSET', sess, 'l:' .. nsp, table.concat(lefts[nsp], '\0')) end
end
if last_changed then redis.call('SET', idkey, last) end
redis.call('PEXPIRE', sess, ttl)
local conn = ws and redis.call('HGET', sess, 'cn')
if conn then redis.call('PEXPIRE', prefix .. ':c:' .. conn, ttl) end
if wake_self then
  redis.call('PEXPIRE', slog, ttl)
  if ws then flush_self = true end
end
if wake_self or rewatch then redis.call('PUBLISH', session_channel(prefix, sid), 'm') end
for ch in pairs(wake) do redis.call('PUBLISH', ch, '1') end
if flush_self then flush[sid] = true end
local out = { 'OK' }
for member in pairs(flush) do out[#out + 1] = member end
return out
