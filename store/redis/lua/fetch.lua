-- fetch: take what is queued for a session since its cursor: its own log merged with the logs
-- of its rooms (and of rooms it left, up to when it left), in id order, each id once.
-- KEYS[1] session hash   KEYS[2] session log   (fields: see commit.lua)
-- ARGV[1] now (unix ms)   ARGV[2] key prefix   ARGV[3] max payloads
-- ARGV[4] poll token ('' = no poll bookkeeping)
-- ARGV[5] hold (ms): when nothing is queued, mark the session held by the token until now+hold;
--         '0' releases a hold by the token instead
-- ARGV[6] '1' to take the ping if it is due (ps is then set)    ARGV[7] session TTL (ms)
-- ARGV[8] the transport asking ('polling', 'websocket'); another transport gets 'TRANSPORT'
-- ARGV[10] session id
-- ARGV[9] '1' for a flush lease (websocket push): the token holds the session while it has
--         taken something, and releases it with the fetch that finds nothing; '2' for a pump's
--         pin: the token keeps holding it whatever the fetch finds, and the (nsp, room) pairs
--         follow the payloads always
-- Returns {status, pong, pi, pt, ps, more, pinged, upgrading, conn, n, payload*n, (nsp, room)*} where
-- status is 'OK', 'EXPIRED' (past its deadline; nothing taken), 'BUSY' (another poll or flush
-- holds it), 'TRANSPORT', 'GONE' or 'CLOSED' (then the second element is the reason). upgrading
-- is 1 when a websocket probes an upgrade of this polling session (the GET must answer a noop).
-- The (nsp, room) pairs follow only when n is 0 (or with a pin): they are what a waiting poll
-- must watch.

local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return { 'GONE' } end
local h = {}
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
if h.cl then
  -- ow: the noop owed for a close the client asked for goes to the first polling fetch.
  local owed = 0
  if h.ow and ARGV[8] == 'polling' then
    redis.call('HDEL', KEYS[1], 'ow')
    owed = 1
  end
  return { 'CLOSED', h.cl, owed }
end

local now = tonumber(ARGV[1])
local prefix = ARGV[2]
local max = tonumber(ARGV[3])
local token = ARGV[4]
local hold = tonumber(ARGV[5])
local pong, pi, pt = tonumber(h.pong), tonumber(h.pi), tonumber(h.pt)
local ps = h.ps or '0'
if expired(now, h.pong, h.pi, h.pt, h.cd) then return { 'EXPIRED', h.pong, h.pi, h.pt, ps } end
if ARGV[8] ~= (h.tr or 'polling') then return { 'TRANSPORT' } end
if token ~= '' and h.poll and h.poll ~= token and tonumber(h.pollx) > now then return { 'BUSY' } end
local lease, pin = ARGV[9] == '1', ARGV[9] == '2'
local upgrading = h.pr and ARGV[8] == 'polling' and 1 or 0
if upgrading == 1 then
  -- Take nothing: what is queued goes out over the WebSocket once the upgrade completes.
  if token ~= '' and h.poll == token then redis.call('HDEL', KEYS[1], 'poll', 'pollx') end
  return { 'OK', h.pong, h.pi, h.pt, ps, 0, 0, 1, h.cn or '', 0 }
end

local cur = h.cur or '0-0'
local found = {}
local limit = nil -- the smallest last id of a range cut by COUNT: nothing past it is certain
-- take records the entries read from one log: read is {key, from, to, member_of}, where to
-- (nil: no bound) is the id a left room stops at, and member_of the rooms whose members an
-- entry's except list ('x') excludes.
local function take(read, entries)
  local to = read[3]
  if #entries == max and not (to and id_lt(to, entries[#entries][1])) then
    -- Cut by COUNT before the end of its range: nothing past its last id is certain.
    local last = entries[#entries][1]
    if not limit or id_lt(last, limit) then limit = last end
  end
  for _, e in ipairs(entries) do
    if to and id_lt(to, e[1]) then break end
    local f, payload, skip = e[2], false, false
    for k = 1, #f, 2 do
      if f[k] == 'p' then
        payload = f[k + 1]
      elseif f[k] == 'x' and read[4] then
        for _, r in ipairs(split0(f[k + 1])) do
          if read[4][r] then skip = true end
        end
      end
    end
    if skip then payload = false end
    found[#found + 1] = { e[1], payload }
  end
end

-- The logs to read: the session's own, then each room's from when the session joined it (or
-- its cursor), and each left room's up to when it left.
local reads = { { KEYS[2], cur, nil, nil } }
local member, watch, lefts = {}, {}, {}
local COLON, R, L = string.byte(':'), string.byte('r'), string.byte('l')
for field, value in pairs(h) do
  -- Only the r:<nsp> and l:<nsp> fields matter here; the others are not cut up.
  local kind, colon = string.byte(field, 1, 2)
  if colon == COLON and kind == R then
    local nsp = string.sub(field, 3)
    local set, l = {}, split0(value)
    for k = 1, #l, 2 do set[l[k]] = true end
    member[nsp] = set
    local base = room_key_base(prefix, nsp)
    for k = 1, #l, 2 do
      reads[#reads + 1] = { base .. l[k] .. '}', id_max(cur, l[k + 1]), nil, set }
      watch[#watch + 1] = nsp; watch[#watch + 1] = l[k]
    end
  elseif colon == COLON and kind == L then
    lefts[string.sub(field, 3)] = split0(value)
  end
end
for nsp, l in pairs(lefts) do
  for k = 1, #l, 3 do
    if id_lt(cur, l[k + 2]) then
      reads[#reads + 1] = { room_key(prefix, nsp, l[k]), id_max(cur, l[k + 1]), l[k + 2], member[nsp] or {} }
    end
  end
end

-- One XREAD reads every log at once (each call from a script costs more than the read itself);
-- a log listed twice (a room left and joined again) is read again on its own.
local byKey, again = {}, {}
local xread = { 'XREAD', 'COUNT', max, 'STREAMS' }
local ids = {}
for _, r in ipairs(reads) do
  if byKey[r[1]] then
    again[#again + 1] = r
  else
    byKey[r[1]] = r
    xread[#xread + 1] = r[1]
    ids[#ids + 1] = r[2]
  end
end
for _, id in ipairs(ids) do xread[#xread + 1] = id end
local res = redis.call(unpack(xread))
if res then
  for _, stream in ipairs(res) do take(byKey[stream[1]], stream[2]) end
end
for _, r in ipairs(again) do
  take(r, redis.call('XRANGE', r[1], '(' .. r[2], r[3] or '+', 'COUNT', max))
end

table.sort(found, function(a, b) return id_lt(a[1], b[1]) end)
local out, newcur, more, prev = {}, cur, limit ~= nil, nil
for _, e in ipairs(found) do
  if limit and id_lt(limit, e[1]) then break end
  if e[1] ~= prev then
    prev = e[1]
    if e[2] then
      if #out == max then more = true; break end
      out[#out + 1] = e[2]
    end
    newcur = e[1]
  end
end

local sets = {}
if newcur ~= cur then
  sets[#sets + 1] = 'cur'; sets[#sets + 1] = newcur
  for nsp, l in pairs(lefts) do
    local keep = {}
    for k = 1, #l, 3 do
      if id_lt(newcur, l[k + 2]) then
        keep[#keep + 1] = l[k]; keep[#keep + 1] = l[k + 1]; keep[#keep + 1] = l[k + 2]
      end
    end
    if #keep < #l then
      if #keep == 0 then
        redis.call('HDEL', KEYS[1], 'l:' .. nsp)
      else
        sets[#sets + 1] = 'l:' .. nsp; sets[#sets + 1] = table.concat(keep, '\0')
      end
    end
  end
end
local pinged = ARGV[6] == '1' and ps ~= '1' and now >= pong + pi
if pinged then
  ps = '1'
  sets[#sets + 1] = 'ps'; sets[#sets + 1] = '1'
  if ARGV[8] == 'websocket' then redis.call('ZREM', prefix .. ':ping', ARGV[10]) end
end
-- A held GET keeps its hold while it has nothing; a flush keeps its lease while it has something.
local keep
if pin then
  keep = true
elseif lease then
  keep = #out > 0 or pinged
else
  keep = #out == 0 and not pinged and upgrading == 0
end
if token ~= '' then
  if keep and hold > 0 then
    sets[#sets + 1] = 'poll'; sets[#sets + 1] = token
    sets[#sets + 1] = 'pollx'; sets[#sets + 1] = now + hold
  elseif h.poll == token then
    redis.call('HDEL', KEYS[1], 'poll', 'pollx')
  end
end
if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])

local reply = { 'OK', h.pong, h.pi, h.pt, ps, more and 1 or 0, pinged and 1 or 0, upgrading, h.cn or '', #out }
for _, p in ipairs(out) do reply[#reply + 1] = p end
if #out == 0 or pin then
  for _, w in ipairs(watch) do reply[#reply + 1] = w end
end
return reply
