--[[
  Lifts the ban of an address (or CIDR) and forgets its failure windows, so
  it starts clean. No event when there was nothing to lift.

  KEYS[1] {p}:ban:<ip>   KEYS[2] {p}:bans   KEYS[3] {p}:events
  KEYS[4..n] {p}:fail:<jail>:<ip> for every configured jail

  ARGV[1] now (ms)   ARGV[2] ip   ARGV[3] reason   ARGV[4] by
  ARGV[5] events MAXLEN (~)   ARGV[6] changes notice target (see includes/notify)

  Returns 1 if a ban was lifted, 0 if there was none.
]]
--- @include "includes/notify"
local jail = redis.call('HGET', KEYS[1], 'jail') or ''
local removed = redis.call('DEL', KEYS[1]) + redis.call('ZREM', KEYS[2], ARGV[2])
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
if removed == 0 then return 0 end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
  'type', 'unban', 'ip', ARGV[2], 'jail', jail, 'reason', ARGV[3], 'by', ARGV[4], 'at', ARGV[1])
notify(ARGV[6], cjson.encode({ type = 'unban', ip = ARGV[2] }))
return 1
