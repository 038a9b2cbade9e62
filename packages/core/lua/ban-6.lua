--[[
  Bans an address (or CIDR) by hand, for a fixed time; replaces the address's
  current ban in that jail (its bans in other jails run on, see writeBan).
  Produces the same event and notice as a ban at maxretry.

  KEYS[1] {p}:ban:<ip>   KEYS[2] {p}:bans   KEYS[3] {p}:offenses:<ip>
  KEYS[4] {p}:stats:<jail>   KEYS[5] {p}:events   KEYS[6] {p}:jailbans

  ARGV[1] now (ms)   ARGV[2] duration (ms, -1 = forever)   ARGV[3] jail
  ARGV[4] ip         ARGV[5] reason   ARGV[6] by   ARGV[7] events MAXLEN (~)
  ARGV[8] changes notice target (see includes/notify)   ARGV[9] offense memory (ms)

  Returns { until, bans }
]]
--- @include "includes/writeBan"

local now = tonumber(ARGV[1])
local bans = previousBans(KEYS[3]) + 1
trimBans(KEYS[2], KEYS[6], now)
local untilText = writeBan(
  { key = KEYS[1], offenseKey = KEYS[3], ip = ARGV[4], jail = ARGV[3], reason = ARGV[5], eventReason = ARGV[5],
    by = ARGV[6], now = now, duration = tonumber(ARGV[2]), bans = bans },
  { bans = KEYS[2], jailBans = KEYS[6], events = KEYS[5], maxlen = ARGV[7], channel = ARGV[8], memory = tonumber(ARGV[9]) })
redis.call('HINCRBY', KEYS[4], 'banned', 1)
return { untilText, bans }
