package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts keep every write to the log's three keys atomic, so every node
// sees a Seq, its entry and its index entry appear and disappear together.
// KEYS are always: 1 the stream, 2 the head hash (fields "seq", the last
// Seq handed out, and "time", the last append time), 3 the ID index hash.
//
// Seq is the stream entry ID "<seq>-0": the head's seq is HINCRBYed and the entry
// is added with that explicit ID in one script, so Seq is dense in append
// order, the same on every node, and XRANGE/XREAD by Seq need no lookup.
// Lua numbers are doubles, so Seq and time are exact up to 2^53; the scripts
// format them with %d and never let Lua print them in exponent form.
//
// An append's time is the server's TIME, but never before the previous
// append's: a clock stepped back must not make Time go backwards, which
// age retention (trimming from the oldest end) relies on.
//
// Retention does not use XADD MAXLEN ~: that drops entries without saying
// which, and the ID index would keep pointing at them forever. trim instead
// reads the oldest entries, updates their index entries and XTRIMs up to them with MINID, at most
// trimBatch entries per call. An append displaces at most one entry by
// length, so length retention stays exact; age retention is caught up by
// every script call and by the idle sweep.
const trimLua = `
-- The ID index maps an ID to the Seq of its first copy, or, once the ID is
-- reused, to "<first>:<last>". Find answers the first (hub.Log: a reused ID
-- resolves to its earliest copy); a first of "0" says that copy is gone
-- while later ones are kept, and the entry goes with the last copy.
local function span(v)
  local f, l = string.match(v, '^(%d+):(%d+)$')
  if f then return f, l end
  return v, v
end

local function unindex(ids, id, seq)
  local v = redis.call('HGET', ids, id)
  if not v then return end
  local f, l = span(v)
  if seq == l then
    redis.call('HDEL', ids, id)
  elseif seq == f then
    redis.call('HSET', ids, id, '0:' .. l)
  end
end

local function trim(stream, ids, maxLen, minTime, batch)
  local excess = 0
  if maxLen > 0 then excess = redis.call('XLEN', stream) - maxLen end
  if excess <= 0 and minTime <= 0 then return 0 end
  local removed, last, from, aged = 0, nil, '-', false
  while removed < batch and (removed < excess or minTime > 0) do
    -- Past the excess, probe one entry for age; read on in chunks only
    -- once one was old.
    local want = 1
    if removed < excess then want = excess - removed elseif aged then want = 64 end
    want = math.min(want, batch - removed)
    local es = redis.call('XRANGE', stream, from, '+', 'COUNT', want)
    if #es == 0 then break end
    local stop = false
    for _, e in ipairs(es) do
      local f, t, id = e[2], nil, nil
      for i = 1, #f, 2 do
        if f[i] == 't' then t = f[i+1] elseif f[i] == 'id' then id = f[i+1] end
        if t and id then break end
      end
      if removed >= excess and not (minTime > 0 and t and tonumber(t) < minTime) then
        stop = true
        break
      end
      if id and id ~= '' then unindex(ids, id, string.match(e[1], '^(%d+)')) end
      if removed >= excess then aged = true end
      removed = removed + 1
      last = e[1]
    end
    if stop then break end
    from = '(' .. last
  end
  if last then
    -- MINID keeps its threshold; XDEL removes that last one.
    redis.call('XTRIM', stream, 'MINID', last)
    redis.call('XDEL', stream, last)
  end
  return removed
end

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function minTime(now, maxAge)
  if maxAge > 0 then return now - maxAge end
  return 0
end
`

// appendScript adds one update. ARGV: 1 MaxLen, 2 MaxAge µs, 3 trim batch,
// 4 the update's ID, 5 the highest Seq and 6 the latest time (µs) the
// calling node has seen, 7 the duplicate window µs (0: none), then the
// entry's field-value pairs starting with fieldID. It returns {seq, time
// µs, rebased, duplicate} as strings.
//
// When the ID's newest kept copy was appended less than the window ago and
// holds exactly the fields of this append, it is a retry: nothing is
// written and that copy's Seq and time are returned with duplicate "1", so
// a retried append is stored once, whichever node retries. A different
// update reusing the ID is stored (hub.Log's Append). Only the newest copy
// is compared: a retry of an earlier copy of a reused ID is stored again.
//
// ARGV 5 and 6 are floors. A Redis that restarts without persistence comes
// back empty, and its counter would hand out Seqs the nodes have already
// fanned out, so their followers would skip the new updates as old. The
// floor makes the first append after such a loss continue above the
// highest Seq the appending node knows (rebased = "1"); nodes follow the
// same stream, so they know the same Seqs, give or take in-flight ones.
var appendScript = goredis.NewScript(trimLua + `
local t = math.max(now(), tonumber(redis.call('HGET', KEYS[2], 'time') or 0), tonumber(ARGV[6]))
local window = tonumber(ARGV[7])
if ARGV[4] ~= '' and window > 0 then
  local v = redis.call('HGET', KEYS[3], ARGV[4])
  if v then
    local _, l = span(v)
    local es = redis.call('XRANGE', KEYS[1], l .. '-0', l .. '-0')
    if #es > 0 then
      -- A retry carries the same fields as the copy: the entry is 't' and
      -- its time, then exactly the fields this append would add.
      local f = es[1][2]
      local same = f[1] == 't' and #f == #ARGV - 7 + 2 and t - tonumber(f[2]) < window
      for i = 3, #f do
        if not same then break end
        same = f[i] == ARGV[i + 5]
      end
      if same then return {l, f[2], '0', '1'} end
    end
  end
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local rebased = '0'
if seq <= tonumber(ARGV[5]) then
  seq = tonumber(ARGV[5]) + 1
  redis.call('HSET', KEYS[2], 'seq', string.format('%d', seq))
  rebased = '1'
end
local sseq, st = string.format('%d', seq), string.format('%d', t)
redis.call('HSET', KEYS[2], 'time', st)
redis.call('XADD', KEYS[1], sseq .. '-0', 't', st, unpack(ARGV, 8))
if ARGV[4] ~= '' then
  local v = redis.call('HGET', KEYS[3], ARGV[4])
  if v then
    local f = span(v)
    redis.call('HSET', KEYS[3], ARGV[4], f .. ':' .. sseq)
  else
    redis.call('HSET', KEYS[3], ARGV[4], sseq)
  end
end
trim(KEYS[1], KEYS[3], tonumber(ARGV[1]), minTime(t, tonumber(ARGV[2])), tonumber(ARGV[3]))
return {sseq, st, rebased, '0'}
`)

// findScript looks an ID up. ARGV: 1 the ID, 2 MaxAge µs. It returns the
// Seq of the ID's first copy as a string, or nil when the ID is unknown,
// that copy was trimmed or it is older than MaxAge. A stale index entry is
// marked as such on the way.
var findScript = goredis.NewScript(trimLua + `
local v = redis.call('HGET', KEYS[3], ARGV[1])
if not v then return false end
local seq = span(v)
if seq == '0' then return false end
local es = redis.call('XRANGE', KEYS[1], seq .. '-0', seq .. '-0')
if #es == 0 then
  unindex(KEYS[3], ARGV[1], seq)
  return false
end
local maxAge = tonumber(ARGV[2])
if maxAge > 0 then
  local f = es[1][2]
  for i = 1, #f, 2 do
    if f[i] == 't' and tonumber(f[i+1]) < now() - maxAge then return false end
  end
end
return seq
`)

// beginScript applies retention and reports the log's state, for Read,
// Follow, Len and the idle sweep. ARGV: 1 MaxLen, 2 MaxAge µs, 3 trim
// batch. It returns {last Seq, entries kept, oldest time kept µs (0 for no
// age limit)} as strings; entries older than the last one may remain when
// a backlog exceeds the trim batch, and readers skip them.
var beginScript = goredis.NewScript(trimLua + `
local mt = minTime(now(), tonumber(ARGV[2]))
trim(KEYS[1], KEYS[3], tonumber(ARGV[1]), mt, tonumber(ARGV[3]))
local last = redis.call('HGET', KEYS[2], 'seq') or '0'
return {last, tostring(redis.call('XLEN', KEYS[1])), string.format('%d', mt)}
`)
