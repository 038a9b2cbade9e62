--[[
  Bans many addresses (or CIDRs) by hand in one step, for a blocklist import
  or a mass ban: per address exactly what ban does (one writeBan each),
  without a round trip each.

  KEYS[1] {p}:bans   KEYS[2] {p}:stats:<jail>   KEYS[3] {p}:events   KEYS[4] {p}:jailbans
  KEYS[3 + 2i] {p}:ban:<ip i>   KEYS[4 + 2i] {p}:offenses:<ip i>   (i = 1..n)

  ARGV[1] now (ms)   ARGV[2] duration (ms, -1 = forever)   ARGV[3] jail
  ARGV[4] reason     ARGV[5] by   ARGV[6] events MAXLEN (~)
  ARGV[7] changes notice target (see includes/notify)   ARGV[8] offense memory (ms)
  ARGV[8 + i] ip i

  Returns { until 1, bans 1, until 2, bans 2, ... } (until: the address's
  ban, '-1' forever; bans: its ban count)
]]
--- @include "includes/writeBan"

local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local sink = { bans = KEYS[1], jailBans = KEYS[4], events = KEYS[3], maxlen = ARGV[6], channel = ARGV[7], memory = tonumber(ARGV[8]) }
trimBans(KEYS[1], KEYS[4], now)
local out = {}
local n = #ARGV - 8
for i = 1, n do
  local offenseKey = KEYS[4 + 2 * i]
  local bans = previousBans(offenseKey) + 1
  out[#out + 1] = writeBan(
    { key = KEYS[3 + 2 * i], offenseKey = offenseKey, ip = ARGV[8 + i], jail = ARGV[3], reason = ARGV[4],
      eventReason = ARGV[4], by = ARGV[5], now = now, duration = duration, bans = bans },
    sink)
  out[#out + 1] = bans
end
redis.call('HINCRBY', KEYS[2], 'banned', n)
return out
