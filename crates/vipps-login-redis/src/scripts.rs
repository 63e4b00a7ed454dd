//! The Lua scripts that make each conditional operation one atomic step on the server.
//!
//! Each runs as `EVALSHA`; a server that does not know the script yet (after a restart or
//! `SCRIPT FLUSH`) answers `NOSCRIPT`, and the store sends it once with `EVAL`.

use std::sync::LazyLock;

/// A script's source and its SHA-1, by which `EVALSHA` names it.
pub(crate) struct LuaScript {
    code: &'static str,
    hash: String,
}

impl LuaScript {
    fn new(code: &'static str) -> Self {
        LuaScript {
            code,
            hash: redis::Script::new(code).get_hash().to_owned(),
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn hash(&self) -> &str {
        &self.hash
    }
}

/// `KEYS[1]` the value; `ARGV[1]` the expected bytes, `ARGV[2]` `"1"` to replace or `"0"`
/// to delete, `ARGV[3]` the new value, `ARGV[4]` its lifetime in ms. Returns 1 when it
/// swapped. An absent key (`GET` gives `false`) never matches, not even an empty `expected`.
pub(crate) static COMPARE_AND_SWAP: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local current = redis.call('GET', KEYS[1])
if current == false or current ~= ARGV[1] then
  return 0
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
return 1
",
    )
});

/// `KEYS[1]` the new key, `KEYS[2]` the old one; `ARGV[1]` the value, `ARGV[2]` its
/// lifetime in ms. The new key is written before the old one goes, in one step.
pub(crate) static SET_AND_REMOVE: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[2] ~= KEYS[1] then
  redis.call('DEL', KEYS[2])
end
return 1
",
    )
});

/// `KEYS[1]` the counter; `ARGV[1]` its lifetime in ms when created. Returns
/// `{count, remaining ms}`. The lifetime is set only when the counter has none (as
/// `PEXPIRE … NX` would, which needs Redis 7), so later increments never extend it.
pub(crate) static INCREMENT: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
",
    )
});

/// `KEYS[1]` the index (a sorted set, score = deadline in Unix ms); `ARGV[1]` the deadline,
/// `ARGV[2]` the member, `ARGV[3]` now in Unix ms, `ARGV[4]` the grace (a day) in ms.
/// Forgets members a day past their deadline, then makes the index live until its latest
/// deadline plus the grace.
pub(crate) static INDEX_ADD: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local grace = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[3]) - grace)
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if latest[2] then
  redis.call('PEXPIREAT', KEYS[1], tonumber(latest[2]) + grace)
end
return 1
",
    )
});

/// A start's admission (`Store::admit`) in one step. `KEYS[1]` the refusing key,
/// `KEYS[2]` the reservation (any key when `ARGV[1]` is not `"1"`), `KEYS[3..]` the
/// counters; `ARGV[2]` the reservation's value, `ARGV[3]` its lifetime in ms, then per
/// counter its window in ms and its allowance. Returns `{0}` admitted, `{1, value}`
/// refused, `{2, holder}` reserved by another (`holder` nil when it vanished), or
/// `{3, counter index, remaining ms}` over a limit (the reservation just made lifted).
/// Counters behave as in [`INCREMENT`].
pub(crate) static ADMIT: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        r"
local refused = redis.call('GET', KEYS[1])
if refused then
  return {1, refused}
end
local reserve = ARGV[1] == '1'
if reserve and not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {2, redis.call('GET', KEYS[2])}
end
for i = 3, #KEYS do
  local window = ARGV[4 + (i - 3) * 2]
  local allowance = tonumber(ARGV[5 + (i - 3) * 2])
  local count = redis.call('INCR', KEYS[i])
  local left = redis.call('PTTL', KEYS[i])
  if left < 0 then
    redis.call('PEXPIRE', KEYS[i], window)
    left = tonumber(window)
  end
  if count > allowance then
    if reserve and redis.call('GET', KEYS[2]) == ARGV[2] then
      redis.call('DEL', KEYS[2])
    end
    return {3, i - 3, left}
  end
end
return {0}
",
    )
});
