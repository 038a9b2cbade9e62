--[[
  Records one failure of an address in a jail (sliding window) and bans it at
  maxretry, all in one atomic step so concurrent failures count exactly.
  A failure that held a request-time reservation (reserve-3.lua) gives it
  back in the same step: the budget never sees the unit both held and
  failed, nor neither, and the failing login costs no extra round trip.

  KEYS[1] {p}:fail:<jail>:<ip>   ZSET   failures, score = ms
  KEYS[2] {p}:ban:<ip>           HASH   the ban
  KEYS[3] {p}:bans               ZSET   ip -> until
  KEYS[4] {p}:offenses:<ip>      STRING bans so far
  KEYS[5] {p}:stats:<jail>       HASH   failed, banned
  KEYS[6] {p}:events             STREAM
  KEYS[7] {p}:recent:<jail>:<ip> LIST   last failing requests, for ban alerts
  KEYS[8] {p}:held:<jail>:<ip>   ZSET   reservations (request-time budget)
  KEYS[9] {p}:jailbans           ZSET   <jail>:<ip> -> that jail's until

  ARGV[1]  now (ms)              ARGV[2]  findtime (ms)
  ARGV[3]  maxretry              ARGV[4]  ban lengths by earlier bans, space
                                          separated (ms, -1 = forever; jitter
                                          included; the last one holds past the end)
  ARGV[5]  jail                  ARGV[6]  ip
  ARGV[7]  unique member token   ARGV[8]  offense memory (ms)
  ARGV[9]  events MAXLEN (~)     ARGV[10] changes notice target (see includes/notify)
  ARGV[11] by (who recorded it)
  ARGV[12] failure detail JSON ("" = not kept)
  ARGV[13] details kept          ARGV[14] how long they are kept (ms)
  ARGV[15] weight ("" = one failure per member; n = this member counts n:
           a flood jail's gateway sends its local count in one call)
  ARGV[16] what is counted, for the ban reason ("failures", "requests")
  ARGV[17] the reservation this failure used ("" = none)
  ARGV[18] the jails whose ban already closes this jail's ports, " a b "
           (this one included: JailPorts.coveredBy)

  Returns { count, state, until, bans }
    state 0: counted, not banned; 1: banned now; 2: was already banned (in a
    jail whose ban covers this one's ports); until is the address's ban
]]
--- @include "includes/writeBan"

local now = tonumber(ARGV[1])
local findtime = tonumber(ARGV[2])
local maxretry = tonumber(ARGV[3])

local weighted = ARGV[15] ~= nil and ARGV[15] ~= ''
local weight = weighted and tonumber(ARGV[15]) or 1
redis.call('HINCRBY', KEYS[5], 'failed', weight)
-- the reservation is given back whatever follows (counted, ban, already banned)
if ARGV[17] ~= nil and ARGV[17] ~= '' then redis.call('ZREM', KEYS[8], ARGV[17]) end

-- Already banned (a gateway whose cache was a moment late): keep that ban. A
-- ban in a jail whose rule leaves this jail's ports open (a web login ban, and
-- this is sshd) does not stop the counting: this jail bans on its own.
local current = redis.call('HGET', KEYS[2], 'until')
if current and live(current, now) and coveredBy(KEYS[2], ARGV[18], now) then
  return { 0, 2, current, tonumber(redis.call('HGET', KEYS[2], 'count') or '1') }
end

-- A capped list beside the window: the ban alert quotes it.
if ARGV[12] ~= '' then
  redis.call('LPUSH', KEYS[7], ARGV[12])
  redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[13]) - 1)
  redis.call('PEXPIRE', KEYS[7], ARGV[14])
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
local previous = previousBans(KEYS[4])
local ladder = {}
for ms in string.gmatch(ARGV[4], '%S+') do ladder[#ladder + 1] = tonumber(ms) end
local bans = previous + 1
trimBans(KEYS[3], KEYS[9], now)
local untilText = writeBan(
  { key = KEYS[2], offenseKey = KEYS[4], ip = ARGV[6], jail = ARGV[5],
    reason = count .. ' ' .. (ARGV[16] or 'failures') .. ' within ' .. math.floor(findtime / 1000) .. 's', eventReason = 'maxretry',
    by = ARGV[11], now = now, duration = ladder[math.min(bans, #ladder)], bans = bans },
  { bans = KEYS[3], jailBans = KEYS[9], events = KEYS[6], maxlen = ARGV[9], channel = ARGV[10], memory = tonumber(ARGV[8]) })
redis.call('HINCRBY', KEYS[5], 'banned', 1)
return { count, 1, untilText, bans }
