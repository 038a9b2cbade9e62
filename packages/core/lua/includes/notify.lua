--[[
  Sends a {p}:changes notice. The target is "<channel>" (PUBLISH) or
  "SPUBLISH <channel>": on a Redis Cluster (7+) a sharded notice stays inside
  the shard of the {p} slot instead of crossing the whole cluster bus, and
  reaches the gateways' SSUBSCRIBE there.
]]
local function notify(target, payload)
  local sharded = string.match(target, '^SPUBLISH (.+)$')
  if sharded then
    redis.call('SPUBLISH', sharded, payload)
  else
    redis.call('PUBLISH', target, payload)
  end
end
