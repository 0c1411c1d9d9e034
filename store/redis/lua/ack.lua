-- ack: record what a reader wrote to the client, in one step.
-- KEYS[1] session hash   KEYS[2] session log   KEYS[3] lease key ('' values: see below)
-- ARGV[1] key prefix   ARGV[2] session id   ARGV[3] now (unix ms)
-- ARGV[4] cursor id: move the cursor to it if it is past the current one ('' for none); the
--         session log drops what it passed, and the left rooms it passed are forgotten
-- ARGV[5] the pong (unix ms) whose ping was written ('' for none): applies while it is still
--         the session's pong
-- ARGV[6] lease token: release KEYS[3] (delete it) if this token holds it ('' for none)
-- ARGV[7] the id right after the cursor: the session log keeps the ids from it on
-- Returns 1. A session gone or closed is not an error: only the release applies to it.

local token = ARGV[6]
if token ~= '' then
  local v = redis.call('GET', KEYS[3])
  if v and string.find(v, token, 1, true) == 1 and string.byte(v, #token + 1) == 32 then
    redis.call('DEL', KEYS[3])
  end
end
if ARGV[4] == '' and ARGV[5] == '' then return 1 end
local h = redis.call('HMGET', KEYS[1], 'pong', 'cl', 'cur', 'ln', 'ql')
if not h[1] or h[2] then return 1 end

local cursor = ARGV[4]
if cursor ~= '' and id_lt(h[3] or '0-0', cursor) then
  redis.call('HSET', KEYS[1], 'cur', cursor)
  -- ql is the id of the session log's last entry, while it may hold one the cursor passed.
  if h[5] then
    redis.call('XTRIM', KEYS[2], 'MINID', ARGV[7])
    if not id_lt(cursor, h[5]) then redis.call('HDEL', KEYS[1], 'ql') end
  end
  if h[4] then
    -- Forget the left rooms the cursor passed: nothing of them is left to read.
    local keep_nsps = {}
    for _, nsp in ipairs(split0(h[4])) do
      local l, keep = split0(redis.call('HGET', KEYS[1], 'l:' .. nsp)), {}
      for k = 1, #l, 3 do
        if id_lt(cursor, l[k + 2]) then
          keep[#keep + 1] = l[k]; keep[#keep + 1] = l[k + 1]; keep[#keep + 1] = l[k + 2]
        end
      end
      if #keep == 0 then
        redis.call('HDEL', KEYS[1], 'l:' .. nsp)
      else
        redis.call('HSET', KEYS[1], 'l:' .. nsp, table.concat(keep, '\0'))
        keep_nsps[#keep_nsps + 1] = nsp
      end
    end
    if #keep_nsps == 0 then
      redis.call('HDEL', KEYS[1], 'ln')
    else
      redis.call('HSET', KEYS[1], 'ln', table.concat(keep_nsps, '\0'))
    end
  end
end
if ARGV[5] ~= '' and h[1] == ARGV[5] then
  redis.call('HSET', KEYS[1], 'ps', 1)
  redis.call('ZREM', ARGV[1] .. ':ping', ARGV[2])
end
return 1
