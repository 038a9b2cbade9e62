--[[
  Writing a ban, the same for every script that bans (ban, banMany,
  recordFailure): the hash (replaced whole), its {p}:bans entry, the offense
  counter, the {p}:events entry and the {p}:changes notice. A timed ban's
  hash expires at its end (PEXPIREAT); a forever ban's hash has no TTL (the
  DEL before HSET drops any earlier one). The length comes from the caller
  (TypeScript's ban-length rule): nothing is computed here.
]]
--- @include "includes/notify"

-- bans of this address so far (the increment's memory)
local function previousBans(offenseKey)
  return tonumber(redis.call('GET', offenseKey) or '0')
end

-- {p}:bans entries that ended before `now` go (once per script)
local function trimBans(bansKey, now)
  redis.call('ZREMRANGEBYSCORE', bansKey, '-inf', '(' .. string.format('%d', now))
end

--[[
  ban:  { key, offenseKey, ip, jail, reason (kept in the hash), eventReason,
          by, now (ms), duration (ms, -1 forever), bans (this one included) }
  sink: { bans = {p}:bans, events = {p}:events, maxlen, channel, memory (ms) }
  Returns until as text ('-1' forever).
]]
local function writeBan(ban, sink)
  local untilMs = -1
  local untilText = '-1'
  if ban.duration > 0 then
    untilMs = ban.now + ban.duration
    untilText = string.format('%d', untilMs)
  end
  local at = string.format('%d', ban.now)
  redis.call('DEL', ban.key)
  redis.call('HSET', ban.key, 'jail', ban.jail, 'reason', ban.reason, 'at', at, 'until', untilText,
    'count', ban.bans, 'by', ban.by)
  if untilMs > 0 then
    redis.call('PEXPIREAT', ban.key, untilText)
    redis.call('ZADD', sink.bans, untilText, ban.ip)
    redis.call('SET', ban.offenseKey, ban.bans, 'PX', string.format('%d', ban.duration + sink.memory))
  else
    redis.call('ZADD', sink.bans, '+inf', ban.ip)
    redis.call('SET', ban.offenseKey, ban.bans)
  end
  redis.call('XADD', sink.events, 'MAXLEN', '~', sink.maxlen, '*',
    'type', 'ban', 'ip', ban.ip, 'jail', ban.jail, 'until', untilText,
    'reason', ban.eventReason, 'at', at, 'count', ban.bans)
  notify(sink.channel, cjson.encode({ type = 'ban', ip = ban.ip, jail = ban.jail, ['until'] = untilMs }))
  return untilText
end
