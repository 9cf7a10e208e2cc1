/**
 * The shared upload budget as Lua scripts run atomically by Redis on one hash key. Atomic because several
 * gateways refill and take at once: read-modify-write from the clients would double-spend tokens.
 *
 * Hash fields:
 *   tokens, ts        the bucket: bytes available at `ts` (µs of Redis TIME, one clock for every gateway)
 *   override_rate     bytes/s of the operator's override (-1 = off), absent when none; override_text its text
 *   schedule_rate     bytes/s of the UPLOAD_BWLIMIT entry in force, as the gateways last wrote it; schedule_text
 *   initialized       set by the first sync or override write: a missing field means a fresh (restarted) Redis
 *   resv_id, resv_bytes, resv_until   the first gateway refused holds the next `min` bytes until it comes back
 *                     for them (or until `resv_until`, µs, if it never does)
 *
 * Rates are stored and returned as strings: a Lua number in a reply is truncated to an integer by Redis.
 */

/**
 * KEYS[1] budget hash. ARGV: want (bytes), min (bytes: grant nothing below this), lease_ms (largest grant in
 * ms of the rate), burst_ms (bucket capacity in ms of the rate), schedule_rate (the caller's timetable rate,
 * -1 = off: used unless an override is stored; every gateway computes the same from the same config),
 * client (the caller's id, one per gateway process).
 *
 * Returns {granted, rate, wait_ms, override_text}: granted bytes (0 when fewer than `min` are there),
 * the rate in force as a string ("-1" = unlimited), and when nothing was granted, the ms until `min`
 * will have accrued for this caller.
 *
 * Without the reservation a gateway could starve: whoever asks first after the bucket refills takes all of
 * it, and a gateway told "wait 3 ms" that always comes back a little after another one's timer got nothing
 * for 3 s in a loaded CI run (0.00 of the cap against 1.00). Now the first gateway refused holds the next
 * `min` bytes: others can take only what is above them, and the reservation ends when its holder is granted,
 * or `RESERVE_SLACK_MS` after the wait it was told, so a gateway that died holds nothing for long.
 */
/** How long past its wait a refused gateway's reservation lasts: its timer, event-loop lag and a round trip. */
const RESERVE_SLACK_MS = 50;

export const LEASE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local f = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'override_rate', 'override_text', 'resv_id', 'resv_bytes', 'resv_until')
local want = tonumber(ARGV[1])
local min = tonumber(ARGV[2])
local rate = tonumber(f[3]) or tonumber(ARGV[5])
local override = f[4] or ''
if rate < 0 then
  return {want, '-1', 0, override}
end
local burst = math.max(rate * tonumber(ARGV[4]) / 1000, min)
local tokens = tonumber(f[1])
local ts = tonumber(f[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
-- A clock that steps back (failover to another host) mints nothing.
if now > ts then tokens = tokens + (now - ts) * rate / 1000000 end
if tokens > burst then tokens = burst end
local me = ARGV[6]
local holder = f[5]
if holder and (tonumber(f[7]) or 0) <= now then holder = nil end
local reserved = 0
if holder and holder ~= me then reserved = tonumber(f[6]) or 0 end
local grant = math.floor(math.min(want, rate * tonumber(ARGV[3]) / 1000, math.max(tokens - reserved, 0)))
local wait = 0
if grant < min then
  grant = 0
  wait = math.ceil((min + reserved - tokens) * 1000 / rate)
  if wait < 1 then wait = 1 end
  if not holder or holder == me then
    redis.call('HSET', KEYS[1], 'resv_id', me, 'resv_bytes', tostring(min),
      'resv_until', string.format('%.0f', now + (wait + ${RESERVE_SLACK_MS}) * 1000))
  end
elseif holder == me then
  redis.call('HDEL', KEYS[1], 'resv_id', 'resv_bytes', 'resv_until')
end
tokens = tokens - grant
-- %.0f: tostring keeps 14 digits, which would round the µs timestamp to 100 µs.
redis.call('HSET', KEYS[1], 'tokens', string.format('%.3f', tokens), 'ts', string.format('%.0f', now))
return {grant, tostring(rate), wait, override}
`;

/**
 * Once a second from every gateway: publishes its timetable rate and text, learns the override, and
 * notices a differing UPLOAD_BWLIMIT on another gateway. A fresh Redis (restarted without persistence)
 * gets back the override this gateway last saw.
 *
 * KEYS[1] budget hash. ARGV: schedule_rate, schedule_text, last_override_rate, last_override_text ('' = none).
 * Returns {override_text ('' = none), other_schedule_text ('' = same as ours)}.
 */
export const SYNC_LUA = `
local f = redis.call('HMGET', KEYS[1], 'schedule_text', 'override_text', 'initialized')
local other = ''
if f[1] and f[1] ~= ARGV[2] then other = f[1] end
local override = f[2] or ''
if not f[3] then
  if ARGV[4] ~= '' then
    override = ARGV[4]
    redis.call('HSET', KEYS[1], 'override_rate', ARGV[3], 'override_text', ARGV[4])
  end
  redis.call('HSET', KEYS[1], 'initialized', '1')
end
redis.call('HSET', KEYS[1], 'schedule_rate', ARGV[1], 'schedule_text', ARGV[2])
return {override, other}
`;

/**
 * Sets (ARGV: rate, text) or clears (no ARGV) the override, and marks the hash initialized so that no
 * gateway's sync restores an older override over it.
 */
export const OVERRIDE_LUA = `
if #ARGV == 0 then
  redis.call('HDEL', KEYS[1], 'override_rate', 'override_text')
else
  redis.call('HSET', KEYS[1], 'override_rate', ARGV[1], 'override_text', ARGV[2])
end
redis.call('HSET', KEYS[1], 'initialized', '1')
return 1
`;
