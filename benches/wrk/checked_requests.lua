-- The load generator's script of benches/benches/provider_vs_oidc_provider.rs, for wrk
-- (one thread). Every request is different and every answer is checked:
--
--   wrk -t1 -c16 -d120s -s checked_requests.lua URL -- METHOD PATH FILE STATUS TEXT [AUTH]
--
-- FILE holds one line per request, each sent once: for GET the path (with its query),
-- for POST the form body sent to PATH (with `Authorization: AUTH` when given). After the
-- last line the connections go idle; when every line has been answered the thread stops
-- and wrk ends at once (a SIGINT to itself, which cuts wrk's sleep of -d short). Each
-- answer must have status STATUS and contain TEXT (plain text, e.g. `"authorization_pending"`
-- or `"id_token"`); the first one that does not stops the round. done() prints one
-- line `wrk-result key=value ...` for the bench to read: answered, wrong, the first wrong
-- answer, socket errors, the elapsed time from the first request to the last answer
-- (CLOCK_MONOTONIC) and wrk's own CPU time (all its threads).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *tp);
  int kill(int pid, int sig);
  int getpid(void);
]]

local function now_us()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, t) -- CLOCK_MONOTONIC
  return tonumber(t.tv_sec) * 1e6 + tonumber(t.tv_nsec) / 1e3
end

-- Per thread (read by done() through thread:get, hence globals).
lines = {}
reserved = 0
sent = 0
total = 0
answered = 0
wrong = 0
first_wrong = ""
started_us = 0
finished_us = 0

local method, path, expect_status, expect_text, headers

function init(args)
  method, path, expect_status, expect_text = args[1], args[2], tonumber(args[4]), args[5]
  for line in io.lines(args[3]) do
    lines[#lines + 1] = line
  end
  total = #lines
  headers = {}
  if method == "POST" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
  if args[6] then
    headers["Authorization"] = args[6]
  end
end

-- wrk asks delay() before each request() of a connection, with a timer in between: a
-- line is reserved here, so that connections between the two never take more lines
-- than there are. A connection with nothing left to send waits (an hour: the round ends
-- long before).
function delay()
  if reserved >= total then
    return 3600000
  end
  reserved = reserved + 1
  return 0
end

local function format(line)
  if method == "GET" then
    return wrk.format("GET", line, headers)
  end
  return wrk.format("POST", path, headers, line)
end

function request()
  if sent >= reserved then
    -- wrk calls request() once at start to check the script, before any delay(): a
    -- sample that is never sent, and no line is used up.
    return format(lines[1])
  end
  sent = sent + 1
  if started_us == 0 then
    started_us = now_us()
  end
  return format(lines[sent])
end

local function stop()
  finished_us = now_us()
  wrk.thread:stop()
  ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT: wrk's main thread stops sleeping out -d
end

function response(status, _, body)
  answered = answered + 1
  if status ~= expect_status or not string.find(body, expect_text, 1, true) then
    wrong = wrong + 1
    if first_wrong == "" then
      first_wrong = status .. " " .. string.sub(string.gsub(body, "%s+", " "), 1, 300)
    end
    stop()
    return
  end
  if answered >= total then
    stop()
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary)
  local e = summary.errors
  for _, t in ipairs(threads) do
    local elapsed = t:get("finished_us") - t:get("started_us")
    io.write(string.format(
      "wrk-result answered=%d wrong=%d lines=%d elapsed_us=%.0f cpu_us=%.0f connect=%d read=%d write=%d timeout=%d first_wrong=%s\n",
      t:get("answered"), t:get("wrong"), t:get("total"), elapsed, os.clock() * 1e6,
      e.connect, e.read, e.write, e.timeout, t:get("first_wrong")))
  end
end
