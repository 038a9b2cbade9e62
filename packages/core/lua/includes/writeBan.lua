--[[
  Writing a ban, the same for every script that bans (ban, banMany,
  recordFailure): the hash, its {p}:bans entry, its {p}:jailbans entry, the
  offense counter, the {p}:events entry and the {p}:changes notice. The
  length comes from the caller (TypeScript's ban-length rule): nothing is
  computed here.

  A ban belongs to a jail, and the firewall rule of each jail closes that
  jail's ports: an address may be banned in several jails at once (a web
  login ban and an sshd ban), each until its own end. The hash keeps one
  `until:<jail>` field per jail still banning the address; a new ban in a
  jail replaces that jail's ban only. What the gateways see (the hash's
  `until`, {p}:bans, the event's and the notice's `until`) is the address's
  ban: the latest end of its jails' bans. The event carries `jailUntil` when
  the jail's own end is earlier. A timed ban's hash expires at the address's
  end (PEXPIREAT); a forever ban's hash has no TTL (the DEL before HSET drops
  any earlier one).
]]
--- @include "includes/notify"

-- bans of this address so far (the increment's memory)
local function previousBans(offenseKey)
  return tonumber(redis.call('GET', offenseKey) or '0')
end

-- {p}:bans and {p}:jailbans entries that ended before `now` go (once per script)
local function trimBans(bansKey, jailBansKey, now)
  local before = '(' .. string.format('%d', now)
  redis.call('ZREMRANGEBYSCORE', bansKey, '-inf', before)
  redis.call('ZREMRANGEBYSCORE', jailBansKey, '-inf', before)
end

local function live(untilText, now)
  local u = tonumber(untilText)
  return u ~= nil and (u == -1 or u > now)
end

-- the later of two ends (-1 = forever)
local function later(a, b)
  if a == -1 or b == -1 then return -1 end
  return math.max(a, b)
end

--[[
  The address's bans still running, jail → until text, from its hash: its
  `until:<jail>` fields, or (a hash written before them) its jail and until.
]]
local function jailBans(key, now)
  local out = {}
  local fields = redis.call('HGETALL', key)
  local jail, untilText, perJail = nil, nil, false
  for i = 1, #fields, 2 do
    local name = string.match(fields[i], '^until:(.+)$')
    if name then
      perJail = true
      if live(fields[i + 1], now) then out[name] = fields[i + 1] end
    elseif fields[i] == 'jail' then
      jail = fields[i + 1]
    elseif fields[i] == 'until' then
      untilText = fields[i + 1]
    end
  end
  if not perJail and jail and untilText and live(untilText, now) then out[jail] = untilText end
  return out
end

--[[
  ban:  { key, offenseKey, ip, jail, reason (kept in the hash), eventReason,
          by, now (ms), duration (ms, -1 forever), bans (this one included) }
  sink: { bans = {p}:bans, jailBans = {p}:jailbans, events = {p}:events,
          maxlen, channel, memory (ms) }
  Returns the address's until as text ('-1' forever).
]]
local function writeBan(ban, sink)
  local jailUntil = -1
  if ban.duration > 0 then jailUntil = ban.now + ban.duration end
  local jailUntilText = string.format('%d', jailUntil)
  local others = jailBans(ban.key, ban.now)
  others[ban.jail] = nil
  local untilMs = jailUntil
  for _, u in pairs(others) do untilMs = later(untilMs, tonumber(u)) end
  local untilText = string.format('%d', untilMs)
  local at = string.format('%d', ban.now)
  redis.call('DEL', ban.key)
  local fields = { 'jail', ban.jail, 'reason', ban.reason, 'at', at, 'until', untilText,
    'count', ban.bans, 'by', ban.by, 'until:' .. ban.jail, jailUntilText }
  for name, u in pairs(others) do
    fields[#fields + 1] = 'until:' .. name
    fields[#fields + 1] = u
  end
  redis.call('HSET', ban.key, unpack(fields))
  redis.call('ZADD', sink.jailBans, jailUntil == -1 and '+inf' or jailUntilText, ban.jail .. ':' .. ban.ip)
  if untilMs > 0 then
    redis.call('PEXPIREAT', ban.key, untilText)
    redis.call('ZADD', sink.bans, untilText, ban.ip)
    redis.call('SET', ban.offenseKey, ban.bans, 'PX', string.format('%d', untilMs - ban.now + sink.memory))
  else
    redis.call('ZADD', sink.bans, '+inf', ban.ip)
    redis.call('SET', ban.offenseKey, ban.bans)
  end
  local event = { 'type', 'ban', 'ip', ban.ip, 'jail', ban.jail, 'until', untilText,
    'reason', ban.eventReason, 'at', at, 'count', ban.bans }
  if jailUntil ~= untilMs then
    event[#event + 1] = 'jailUntil'
    event[#event + 1] = jailUntilText
  end
  redis.call('XADD', sink.events, 'MAXLEN', '~', sink.maxlen, '*', unpack(event))
  notify(sink.channel, cjson.encode({ type = 'ban', ip = ban.ip, jail = ban.jail, ['until'] = untilMs }))
  return untilText
end

--[[
  Is the address's ban (live, exact entry) one that already closes what this
  jail protects? `covering` is " a b c ": the jails whose ban does (this one
  included, see JailPorts.coveredBy). A ban in any other jail leaves this
  jail's ports open: its failures still count.
]]
local function coveredBy(key, covering, now)
  local bans = jailBans(key, now)
  for name in pairs(bans) do
    if string.find(covering, ' ' .. name .. ' ', 1, true) then return true end
  end
  return false
end
