-- The pause left (ms) by Redis' clock. KEYS[1]: the pause-until key.
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return math.max(0, cur - now)
