-- wrk script for bench/run.sh.
--
-- BENCH_PACE_MS=N (N > 0): each connection waits N ms after every response before its next
-- request, so the offered load is about connections / (N ms + latency): the paced phase,
-- which measures latency below saturation. Unset or 0: closed loop, as fast as the server
-- answers (the throughput phase).
--
-- BENCH_METHOD (e.g. POST) replaces GET; BENCH_BODY, when set, is sent as the JSON body of
-- every request (the events benchmark: POST .../worker-token/tokens).
--
-- At the end: one machine-readable line with exact numbers (latency in µs), so the runner
-- does not parse wrk's rounded, unit-suffixed text.
local pace = tonumber(os.getenv("BENCH_PACE_MS") or "0") or 0
local method = os.getenv("BENCH_METHOD") or ""
if method ~= "" then
  wrk.method = method
end
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if pace > 0 then
  delay = function() return pace end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
