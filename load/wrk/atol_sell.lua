-- wrk script: single-receipt ATOL v4/v5 POSTs, each with a unique external_id (no duplicates, no client-side
-- JSON encoding per request: the body is the template with one counter spliced in).
-- Environment: FC_TOKEN (required), FC_PATH (default /possystem/v4/sandbox-v4/sell), FC_BODY (a file holding
-- the JSON template with the marker @@ID@@ where the external_id goes).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("FC_BODY"), "r"))
  local text = f:read("*a")
  f:close()
  local at = string.find(text, "@@ID@@", 1, true)
  prefix = string.sub(text, 1, at - 1)
  suffix = string.sub(text, at + 6)
  path = os.getenv("FC_PATH") or "/possystem/v4/sandbox-v4/sell"
  math.randomseed(os.time() * 1000 + (tid or 0))
  run = os.getenv("FC_RUN") or tostring(os.time())
  headers = {["Content-Type"] = "application/json; charset=utf-8", ["Token"] = os.getenv("FC_TOKEN")}
end

function request()
  counter = counter + 1
  return wrk.format("POST", path, headers, prefix .. run .. "-" .. tid .. "-" .. counter .. suffix)
end

function done(summary, latency, requests)
  local non2xx = (summary.errors.status or 0)
  io.write(string.format("FC_RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, non2xx, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

-- FC_DELAY_MS: a pause before each request on a connection (open-loop-ish pacing: connections × 1000 / delay
-- requests/s at most), for latency at a given fraction of the peak rate.
local pause = tonumber(os.getenv("FC_DELAY_MS") or "0")
if pause > 0 and os.getenv("FC_DELAY_DIST") == "exp" then
  function delay()
    return math.floor(-pause * math.log(1 - math.random()) + 0.5)
  end
elseif pause > 0 then
  function delay()
    return pause
  end
end
