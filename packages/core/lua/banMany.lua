--[[
  Bans many addresses (or CIDRs) by hand in one step, for a blocklist import
  or a mass ban: per address exactly what ban.lua does (hash, index, offense,
  event, notice), without a round trip each.

  KEYS[1] {p}:bans   KEYS[2] {p}:stats:<jail>   KEYS[3] {p}:events
  KEYS[2 + 2i] {p}:ban:<ip i>   KEYS[3 + 2i] {p}:offenses:<ip i>   (i = 1..n)

  ARGV[1] now (ms)   ARGV[2] duration (ms, -1 = forever)   ARGV[3] jail
  ARGV[4] reason     ARGV[5] by   ARGV[6] events MAXLEN (~)
  ARGV[7] changes channel   ARGV[8] offense memory (ms)
  ARGV[8 + i] ip i

  Returns { until, bans 1, bans 2, ... } (bans = this address's ban count)
]]
local duration = tonumber(ARGV[2])
local untilMs = -1
local untilText = '-1'
if duration > 0 then
  untilMs = tonumber(ARGV[1]) + duration
  untilText = string.format('%d', untilMs)
end
local out = { untilText }
local n = #ARGV - 8
for i = 1, n do
  local ip = ARGV[8 + i]
  local banKey = KEYS[2 + 2 * i]
  local offenseKey = KEYS[3 + 2 * i]
  local bans = tonumber(redis.call('GET', offenseKey) or '0') + 1
  redis.call('DEL', banKey)
  redis.call('HSET', banKey, 'jail', ARGV[3], 'reason', ARGV[4], 'at', ARGV[1], 'until', untilText, 'count', bans, 'by', ARGV[5])
  if untilMs > 0 then
    redis.call('PEXPIREAT', banKey, untilText)
    redis.call('ZADD', KEYS[1], untilText, ip)
    redis.call('SET', offenseKey, bans, 'PX', string.format('%d', duration + tonumber(ARGV[8])))
  else
    redis.call('ZADD', KEYS[1], '+inf', ip)
    redis.call('SET', offenseKey, bans)
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*',
    'type', 'ban', 'ip', ip, 'jail', ARGV[3], 'until', untilText,
    'reason', ARGV[4], 'at', ARGV[1], 'count', bans)
  redis.call('PUBLISH', ARGV[7], cjson.encode({ type = 'ban', ip = ip, jail = ARGV[3], ['until'] = untilMs }))
  out[#out + 1] = bans
end
redis.call('HINCRBY', KEYS[2], 'banned', n)
return out
