--[[
  Reserves one attempt of an address's budget in a jail when a request that
  the jail could count arrives (its verdict is not known yet). The budget is
  maxretry minus the failures in the window minus the reservations still
  held (by any gateway), so attempts in flight count before they fail.
  Self-contained on purpose: it reads the failure window, never writes it.

  KEYS[1] {p}:fail:<jail>:<ip>   ZSET  failures, score = ms
  KEYS[2] {p}:held:<jail>:<ip>   ZSET  reservations, score = expiry ms
  KEYS[3] {p}:ban:<ip>           HASH  the ban

  ARGV[1] now (ms)   ARGV[2] findtime (ms)   ARGV[3] maxretry
  ARGV[4] reservation lifetime (ms)   ARGV[5] unique reservation token

  Returns { state, used, until }
    state 1: reserved (used = failures + reservations before this one)
    state 0: over budget, nothing reserved
    state 2: banned (until = the ban's end in ms, -1 forever)
]]
local now = tonumber(ARGV[1])

local current = redis.call('HGET', KEYS[3], 'until')
if current then
  local u = tonumber(current)
  if u == -1 or u > now then return { 2, 0, current } end
end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local used = redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[2])), '+inf') + redis.call('ZCARD', KEYS[2])
if used >= tonumber(ARGV[3]) then return { 0, used, '0' } end

redis.call('ZADD', KEYS[2], string.format('%d', now + tonumber(ARGV[4])), ARGV[5])
-- the set lives as long as its newest reservation (every reservation lives as long)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return { 1, used, '0' }
