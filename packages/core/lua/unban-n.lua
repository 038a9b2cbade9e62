--[[
  Lifts the ban of an address (or CIDR) in every jail and forgets its failure
  windows, so it starts clean. No event when there was nothing to lift.

  KEYS[1] {p}:ban:<ip>   KEYS[2] {p}:bans   KEYS[3] {p}:events   KEYS[4] {p}:jailbans
  KEYS[5..n] {p}:fail:<jail>:<ip> for every configured jail

  ARGV[1] now (ms)   ARGV[2] ip   ARGV[3] reason   ARGV[4] by
  ARGV[5] events MAXLEN (~)   ARGV[6] changes notice target (see includes/notify)

  Returns 1 if a ban was lifted, 0 if there was none.
]]
--- @include "includes/notify"
local jail = redis.call('HGET', KEYS[1], 'jail') or ''
-- every jail the address was banned in, running or not: their {p}:jailbans members go
local members = { jail .. ':' .. ARGV[2] }
local fields = redis.call('HKEYS', KEYS[1])
for _, f in ipairs(fields) do
  local name = string.match(f, '^until:(.+)$')
  if name then members[#members + 1] = name .. ':' .. ARGV[2] end
end
redis.call('ZREM', KEYS[4], unpack(members))
local removed = redis.call('DEL', KEYS[1]) + redis.call('ZREM', KEYS[2], ARGV[2])
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
if removed == 0 then return 0 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
  'type', 'unban', 'ip', ARGV[2], 'jail', jail, 'reason', ARGV[3], 'by', ARGV[4], 'at', ARGV[1])
notify(ARGV[6], cjson.encode({ type = 'unban', ip = ARGV[2] }))
return 1
