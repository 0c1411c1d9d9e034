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
--   P               pong           Q reason     close (later operations are ignored)
-- Returns 'OK', 'GONE' (no such session, or closed), or 'ALIVE' (ARGV[7] and not expired).
-- Session hash fields: pi, pt (ping interval/timeout ms), pong (ms), ps (ping sent 0/1),
-- tr (transport), cur (fetch cursor id), poll/pollx (held GET token/expiry ms), cl (closed reason),
-- n:<nsp> socket id, r:<nsp> rooms "room\0join\0...", l:<nsp> left "room\0join\0leave\0...",
-- d:<nsp> data.

local now = tonumber(ARGV[1])
local prefix = ARGV[2]
local retention = tonumber(ARGV[4])
local sid = ARGV[6]
local sess, slog = KEYS[1], KEYS[2]

local h = redis.call('HMGET', sess, 'pong', 'pi', 'pt', 'cl')
if not h[1] or h[4] then
  -- A session whose keys expired without a close still has a deadline in the liveness index.
  redis.call('ZREM', prefix .. ':alive', sid)
  return 'GONE'
end
if ARGV[7] == '1' and now <= tonumber(h[1]) + tonumber(h[2]) + tonumber(h[3]) then
  return 'ALIVE'
end

local idkey = prefix .. ':id'
local last = redis.call('GET', idkey) or '0-0'
local last_changed = false
local function next_id()
  local lm, ls = parse_id(last)
  if now > lm then last = fmt_id(now, 0) else last = fmt_id(lm, ls + 1) end
  last_changed = true
  return last
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
  end
end

local wake, wake_self = {}, false
local i = 8
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'C' then
    local nsp, id = ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    redis.call('HSET', sess, 'n:' .. nsp, id)
    rooms[nsp] = { [id] = last, [''] = last }
    dirty[nsp], removed[nsp] = true, nil
  elseif op == 'X' then
    local nsp = ARGV[i + 1]
    i = i + 2
    for room in pairs(load_rooms(nsp)) do leave(nsp, room) end
    dirty[nsp], removed[nsp] = true, true
  elseif op == 'J' then
    local nsp, room = ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local r = load_rooms(nsp)
    if not r[room] then r[room] = last; dirty[nsp] = true end
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
    end
    i = i + 5 + n + m
  elseif op == 'P' then
    redis.call('HSET', sess, 'pong', now, 'ps', 0)
    redis.call('ZADD', prefix .. ':alive', now + tonumber(h[2]) + tonumber(h[3]), sid)
    i = i + 1
  elseif op == 'Q' then
    if last_changed then redis.call('SET', idkey, last) end
    redis.call('DEL', sess, slog)
    redis.call('HSET', sess, 'cl', ARGV[i + 1])
    redis.call('PEXPIRE', sess, ARGV[5])
    redis.call('ZREM', prefix .. ':alive', sid)
    redis.call('PUBLISH', session_channel(prefix, sid), 'c')
    for ch in pairs(wake) do redis.call('PUBLISH', ch, '1') end
    return 'OK'
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
redis.call('PEXPIRE', sess, ARGV[3])
if wake_self then
  redis.call('PEXPIRE', slog, ARGV[3])
  redis.call('PUBLISH', session_channel(prefix, sid), 'm')
end
for ch in pairs(wake) do redis.call('PUBLISH', ch, '1') end
return 'OK'
