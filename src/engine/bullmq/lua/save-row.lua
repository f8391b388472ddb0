-- Writes (or replaces) the row of a file and updates the run's totals in one step, so a duplicate delivery of a
-- job replaces its row and corrects the totals instead of counting twice.
-- Every row that changes is also added to the run's journal (a capped stream of paths), from which `run --redis`
-- appends each row to the output as it is saved: a Redis lost mid-run then loses no paid answer.
-- KEYS: 1 rows, 2 totals, 3 pending, 4 meta, 5 latest, 6 examples, 7 journal.
-- ARGV: 1 path, 2 row JSON, 3 queue job id ('' for a row saved without one), 4 latest cap, 5 usage fields (JSON),
--       6 journal cap.
local fields = cjson.decode(ARGV[5])
local function apply(json, sign)
  local r = cjson.decode(json)
  redis.call('HINCRBY', KEYS[2], 'rows', sign)
  redis.call('HINCRBY', KEYS[2], 'status:' .. r.status, sign)
  redis.call('HINCRBY', KEYS[2], 'kind:' .. r.kind .. ':' .. r.status, sign)
  if r.error_code ~= nil and r.error_code ~= '' then
    redis.call('HINCRBY', KEYS[2], 'error:' .. r.error_code, sign)
    if r.status == 'failed' then redis.call('HINCRBY', KEYS[2], 'failed:' .. r.error_code, sign) end
    if sign > 0 then redis.call('HSET', KEYS[6], r.error_code, r.path, r.error_code .. ':message', r.error_message or '')
    -- The example's file has a new row now: it no longer shows this code.
    elseif redis.call('HGET', KEYS[6], r.error_code) == r.path then redis.call('HDEL', KEYS[6], r.error_code, r.error_code .. ':message') end
  end
  for _, f in ipairs(fields) do
    local v = r.usage[f]
    if v ~= nil and v ~= cjson.null and v ~= 0 then redis.call('HINCRBY', KEYS[2], 'tokens:' .. f, sign * v) end
  end
  if r.cost ~= nil and r.cost ~= cjson.null then redis.call('HINCRBYFLOAT', KEYS[2], 'cost', sign * r.cost)
  elseif r.usage.total_tokens ~= nil and r.usage.total_tokens > 0 then redis.call('HINCRBY', KEYS[2], 'rowsWithoutPrice', sign) end
  -- 0 is skipped: -1 * 0 is -0, which HINCRBY refuses as not an integer.
  local requests = r.requests or 0
  if requests ~= 0 then redis.call('HINCRBY', KEYS[2], 'attempts', sign * requests) end
end
if ARGV[3] ~= '' and redis.call('SREM', KEYS[3], ARGV[3]) == 1 then
  redis.call('HINCRBY', KEYS[4], 'finished', 1)
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[4], 'lastFinishedAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev == ARGV[2] then return 0 end
-- What the workers spent: only ever goes up (the sums above follow the rows as they are now, and a replaced
-- row takes its numbers with it). Rows saved without a queue job (copied from an output) were not spent here.
if ARGV[3] ~= '' then
  local r = cjson.decode(ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'spent:requests', r.requests or r.attempts or 0)
  local t = r.usage.total_tokens
  if t ~= nil and t ~= cjson.null and t ~= 0 then redis.call('HINCRBY', KEYS[2], 'spent:tokens', t) end
  if r.cost ~= nil and r.cost ~= cjson.null then redis.call('HINCRBYFLOAT', KEYS[2], 'spent:cost', r.cost) end
end
if prev then apply(prev, -1) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
apply(ARGV[2], 1)
redis.call('LREM', KEYS[5], 0, ARGV[1])
redis.call('LPUSH', KEYS[5], ARGV[1])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1)
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'p', ARGV[1])
return 1
