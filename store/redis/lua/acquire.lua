-- acquire: take a lease for a token, or renew it for its holder.
-- KEYS[1] lease key <prefix>:{<sid>}:l:<lease>, holding "<token> <expiry ms>"
-- ARGV[1] token   ARGV[2] now (unix ms)   ARGV[3] expiry (unix ms)
-- ARGV[4] the key's own lifetime (ms), beyond the expiry: it only cleans up
-- Returns {1, prev} if the token holds the lease now, where prev is the token that held it last
-- ('' if none), or {0, holder} if another token holds it. A released lease is "<token> 0".
local v = redis.call('GET', KEYS[1])
local holder = lease_holder(v, tonumber(ARGV[2]))
if holder and holder ~= ARGV[1] then return { 0, holder } end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[3], 'PX', ARGV[4])
local prev = ''
if v then prev = string.sub(v, 1, string.find(v, ' ', 1, true) - 1) end
return { 1, prev }
