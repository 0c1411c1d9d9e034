-- acquire: renew a lease for its holder, or take it over once it expired (Store.Acquire takes a
-- free lease with plain commands, and comes here only when the lease's key exists).
-- KEYS[1] lease key <prefix>:{<sid>}:l:<lease>, holding "<token> <expiry ms>"
-- ARGV[1] token   ARGV[2] now (unix ms)   ARGV[3] the new value "<token> <expiry ms>"
-- ARGV[4] the key's own lifetime (ms), beyond the expiry: it only cleans up
-- Returns {1, ''} if the token holds the lease now, or {0, holder} if another token holds it.
local holder = lease_holder(redis.call('GET', KEYS[1]), tonumber(ARGV[2]))
if holder and holder ~= ARGV[1] then return { 0, holder } end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return { 1, '' }
