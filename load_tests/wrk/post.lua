-- POST bodies read from the file named by $BENCH_BODIES (one JSON body per line), taken in turn;
-- at the end, one JSON line with what wrk counted, for load_tests.bench to parse.
local bodies = {}
local path = os.getenv("BENCH_BODIES")
for line in io.lines(path) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local next_body = 0
local headers = { ["Content-Type"] = "application/json" }
local target_path = os.getenv("BENCH_PATH") or "/"

function init(args)
  -- each thread starts at a different body so threads do not send the same sequence
  next_body = math.random(#bodies) - 1
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", target_path, headers, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
