-- load_conn: the session a websocket connection belongs to, in one round trip.
-- KEYS[1] connection index <prefix>:c:<conn> (its value is the session id)
-- ARGV[1] key prefix
-- Returns {} if the connection is unknown, else {sid, field, value, ...} (the session hash).
local sid = redis.call('GET', KEYS[1])
if not sid then return {} end
local flat = redis.call('HGETALL', ARGV[1] .. ':{' .. sid .. '}')
table.insert(flat, 1, sid)
return flat
