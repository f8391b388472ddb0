-- Moves the token arrival time (KEYS[1]) by ARGV[1] ms once a request's real usage is known; an expired key
-- stays expired.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end
return 0
