--[[
  Bans an address (or CIDR) by hand, for a fixed time; replaces any current ban.
  Produces the same event and notice as a ban at maxretry.

  KEYS[1] {p}:ban:<ip>   KEYS[2] {p}:bans   KEYS[3] {p}:offenses:<ip>
  KEYS[4] {p}:stats:<jail>   KEYS[5] {p}:events

  ARGV[1] now (ms)   ARGV[2] duration (ms, -1 = forever)   ARGV[3] jail
  ARGV[4] ip         ARGV[5] reason   ARGV[6] by   ARGV[7] events MAXLEN (~)
  ARGV[8] changes channel   ARGV[9] offense memory (ms)

  Returns { until, bans }
]]
local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local bans = tonumber(redis.call('GET', KEYS[3]) or '0') + 1
local untilMs = -1
local untilText = '-1'
if duration > 0 then
  untilMs = now + duration
  untilText = string.format('%d', untilMs)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'jail', ARGV[3], 'reason', ARGV[5], 'at', ARGV[1], 'until', untilText,
  'count', bans, 'by', ARGV[6])
if untilMs > 0 then
  redis.call('PEXPIREAT', KEYS[1], untilText)
  redis.call('ZADD', KEYS[2], untilText, ARGV[4])
  redis.call('SET', KEYS[3], bans, 'PX', string.format('%d', duration + tonumber(ARGV[9])))
else
  redis.call('ZADD', KEYS[2], '+inf', ARGV[4])
  redis.call('SET', KEYS[3], bans)
end
redis.call('HINCRBY', KEYS[4], 'banned', 1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*',
  'type', 'ban', 'ip', ARGV[4], 'jail', ARGV[3], 'until', untilText,
  'reason', ARGV[5], 'at', ARGV[1], 'count', bans)
redis.call('PUBLISH', ARGV[8], cjson.encode({ type = 'ban', ip = ARGV[4], jail = ARGV[3], ['until'] = untilMs }))
return { untilText, bans }
