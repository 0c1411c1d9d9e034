-- read: what is queued for a session past its cursor: its own log merged with the logs of its
-- rooms (and of rooms it left, up to when it left), in id order, each id once. It writes nothing,
-- but for a lease taken just before it for a session that does not exist (Store.AcquireRead).
-- KEYS[1] session hash   KEYS[2] session log   (fields: see commit.lua)
-- KEYS[3], KEYS[4] (optional) a lease's key and its last-attempt key
-- ARGV[1] key prefix   ARGV[2] max entries
-- ARGV[3], ARGV[4] (with KEYS[3]) the lease's value and token: a missing session lets it go
-- Returns {'OK', through, more, pong, pi, pt, ps, cd, tr, cn, pr, n, (id, payload)*n, (nsp, room)*}
-- where through is the last id the read accounts for (the store-wide counter, or the last id
-- returned when more is 1) and the (nsp, room) pairs are the session's rooms; or {'GONE'}, or
-- {'CLOSED', reason, owes}.

local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then
  if KEYS[3] then
    if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
    if redis.call('GET', KEYS[4]) == ARGV[4] then redis.call('DEL', KEYS[4]) end
  end
  return { 'GONE' }
end
local h = {}
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
if h.cl then return { 'CLOSED', h.cl, h.ow or '0' } end

local prefix = ARGV[1]
local max = tonumber(ARGV[2])
-- Read first: every id up to it is in its log (commits are atomic scripts), so the logs read
-- below, bounded by it, are one consistent cut.
local through = redis.call('GET', prefix .. ':id') or '0-0'
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
    if (to and id_lt(to, e[1])) or id_lt(through, e[1]) then break end
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
-- scanned is the last id handled (returned, or skipped as not for this session): a read cut
-- short accounts for everything up to it.
local out, more, prev, scanned = {}, limit ~= nil, nil, nil
for _, e in ipairs(found) do
  if limit and id_lt(limit, e[1]) then break end
  if e[1] ~= prev then
    if e[2] and #out == 2 * max then more = true; break end
    prev = e[1]
    if e[2] then
      out[#out + 1] = e[1]
      out[#out + 1] = e[2]
    end
    scanned = e[1]
  end
end
if more then through = scanned or cur end

local reply = { 'OK', through, more and 1 or 0, h.pong, h.pi, h.pt, h.ps or '0', h.cd or '',
  h.tr or 'polling', h.cn or '', h.pr or '', #out / 2 }
for _, v in ipairs(out) do reply[#reply + 1] = v end
for _, w in ipairs(watch) do reply[#reply + 1] = w end
return reply
