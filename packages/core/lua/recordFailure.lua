--[[
  Records one failure of an address in a jail (sliding window) and bans it at
  maxretry, all in one atomic step so concurrent failures count exactly.

  KEYS[1] {p}:fail:<jail>:<ip>   ZSET   failures, score = ms
  KEYS[2] {p}:ban:<ip>           HASH   the ban
  KEYS[3] {p}:bans               ZSET   ip -> until
  KEYS[4] {p}:offenses:<ip>      STRING bans so far
  KEYS[5] {p}:stats:<jail>       HASH   failed, banned
  KEYS[6] {p}:events             STREAM
  KEYS[7] {p}:recent:<jail>:<ip> LIST   last failing requests, for ban alerts

  ARGV[1]  now (ms)              ARGV[2]  findtime (ms)
  ARGV[3]  maxretry              ARGV[4]  bantime (ms, -1 = forever)
  ARGV[5]  jail                  ARGV[6]  ip
  ARGV[7]  unique member token   ARGV[8]  increment enabled (1/0)
  ARGV[9]  increment factor      ARGV[10] multipliers, space separated ("" = formula)
  ARGV[11] maxtime (ms)          ARGV[12] jitter (ms, drawn by the caller within rndtime)
  ARGV[13] offense memory (ms)   ARGV[14] events MAXLEN (~)
  ARGV[15] changes channel       ARGV[16] by (who recorded it)
  ARGV[17] failure detail JSON ("" = not kept)
  ARGV[18] details kept          ARGV[19] how long they are kept (ms)
  ARGV[20] weight ("" = one failure per member; n = this member counts n:
           a flood jail's gateway sends its local count in one call)
  ARGV[21] what is counted, for the ban reason ("failures", "requests")

  Returns { count, state, until, bans }
    state 0: counted, not banned; 1: banned now; 2: was already banned
]]
local now = tonumber(ARGV[1])
local findtime = tonumber(ARGV[2])
local maxretry = tonumber(ARGV[3])
local bantime = tonumber(ARGV[4])

local weighted = ARGV[20] ~= nil and ARGV[20] ~= ''
local weight = weighted and tonumber(ARGV[20]) or 1
redis.call('HINCRBY', KEYS[5], 'failed', weight)

-- Already banned (a gateway whose cache was a moment late): keep that ban.
local current = redis.call('HGET', KEYS[2], 'until')
if current then
  local u = tonumber(current)
  if u == -1 or u > now then
    return { 0, 2, current, tonumber(redis.call('HGET', KEYS[2], 'count') or '1') }
  end
end

-- A capped list beside the window: the ban alert quotes it.
if ARGV[17] ~= '' then
  redis.call('LPUSH', KEYS[7], ARGV[17])
  redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[18]) - 1)
  redis.call('PEXPIRE', KEYS[7], ARGV[19])
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - findtime)
local count
if weighted then
  redis.call('ZADD', KEYS[1], now, ARGV[1] .. ':' .. ARGV[7] .. ':' .. weight)
  count = 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do count = count + tonumber(string.match(m, '(%d+)$')) end
else
  redis.call('ZADD', KEYS[1], now, ARGV[1] .. ':' .. ARGV[7])
  count = redis.call('ZCARD', KEYS[1])
end
if count < maxretry then
  redis.call('PEXPIRE', KEYS[1], findtime)
  return { count, 0, '0', 0 }
end

-- Ban: the window starts over, like fail2ban after a ban.
redis.call('DEL', KEYS[1])
local previous = tonumber(redis.call('GET', KEYS[4]) or '0')
local duration = bantime
if bantime > 0 and ARGV[8] == '1' then
  if previous > 0 then
    local multipliers = {}
    for m in string.gmatch(ARGV[10], '%S+') do multipliers[#multipliers + 1] = tonumber(m) end
    if #multipliers > 0 then
      duration = bantime * multipliers[math.min(previous + 1, #multipliers)]
    else
      duration = bantime * math.pow(2, math.min(previous, 20)) * tonumber(ARGV[9])
    end
    duration = math.min(duration, math.max(tonumber(ARGV[11]), bantime))
  end
  duration = math.floor(duration + tonumber(ARGV[12]))
end

local untilMs = -1
local untilText = '-1'
if duration > 0 then
  untilMs = now + duration
  untilText = string.format('%d', untilMs)
end
local bans = previous + 1

redis.call('HSET', KEYS[2], 'jail', ARGV[5], 'reason', count .. ' ' .. (ARGV[21] or 'failures') .. ' within ' .. math.floor(findtime / 1000) .. 's',
  'at', ARGV[1], 'until', untilText, 'count', bans, 'by', ARGV[16])
if untilMs > 0 then
  redis.call('PEXPIREAT', KEYS[2], untilText)
  redis.call('ZADD', KEYS[3], untilText, ARGV[6])
  redis.call('SET', KEYS[4], bans, 'PX', string.format('%d', duration + tonumber(ARGV[13])))
else
  redis.call('PERSIST', KEYS[2])
  redis.call('ZADD', KEYS[3], '+inf', ARGV[6])
  redis.call('SET', KEYS[4], bans)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])
redis.call('HINCRBY', KEYS[5], 'banned', 1)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[14], '*',
  'type', 'ban', 'ip', ARGV[6], 'jail', ARGV[5], 'until', untilText,
  'reason', 'maxretry', 'at', ARGV[1], 'count', bans)
redis.call('PUBLISH', ARGV[15], cjson.encode({ type = 'ban', ip = ARGV[6], jail = ARGV[5], ['until'] = untilMs }))
return { count, 1, untilText, bans }
