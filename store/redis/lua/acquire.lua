-- acquire: take a lease for a token, or renew it for its holder.
-- KEYS[1] lease key <prefix>:{<sid>}:l:<lease>, holding "<token> <expiry ms>"
-- ARGV[1] token   ARGV[2] now (unix ms)   ARGV[3] expiry (unix ms)
-- ARGV[4] the key's own lifetime (ms), beyond the expiry: it only cleans up
-- Returns 1 if the token holds the lease now, 0 if another token does.
local holder = lease_holder(redis.call('GET', KEYS[1]), tonumber(ARGV[2]))
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[3], 'PX', ARGV[4])
return 1
