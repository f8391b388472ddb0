-- GCRA over two theoretical arrival times (KEYS[1] requests, KEYS[2] tokens): reserves ARGV[1] and ARGV[2] ms of
-- them and returns 0, or returns how long (ms) to wait before asking again. Redis' own clock, so machines with
-- skewed clocks agree.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rt = tonumber(redis.call('GET', KEYS[1]) or '0')
local tt = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = math.max(rt - now, tt - now, 0)
if wait > 0 then return math.ceil(wait) end
local nrt = math.max(rt, now) + tonumber(ARGV[1])
local ntt = math.max(tt, now) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(nrt), 'PX', math.ceil(nrt - now) + 60000)
redis.call('SET', KEYS[2], tostring(ntt), 'PX', math.ceil(ntt - now) + 60000)
return 0
