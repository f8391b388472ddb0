-- Marks queue jobs as pending for a run (they leave the set when their row is saved), except a job whose row is
-- already that job, answered. An enqueue pass reads a path's row, then adds its job; a delivery of the same job that
-- saves its row in between (and is still active, so BullMQ ignores the add as a duplicate) would otherwise leave
-- the entry pending for good, and the run would never be done.
-- KEYS: 1 rows, 2 pending.
-- ARGV: triples of path, job id, queue job id.
local added = 0
for i = 1, #ARGV, 3 do
  local prev = redis.call('HGET', KEYS[1], ARGV[i])
  local answered = false
  if prev then
    local r = cjson.decode(prev)
    answered = r.status == 'ok' and r.id == ARGV[i + 1]
  end
  if not answered then added = added + redis.call('SADD', KEYS[2], ARGV[i + 2]) end
end
return added
