-- wrk script: POST JSON bodies read from a file (one body per line), cycling through them.
-- Usage: wrk -s post_bodies.lua URL -- BODIES_FILE
-- Prints one line "WRK_JSON {...}" with throughput, latency percentiles and error counts.

local bodies = {}
local index = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  if #bodies == 0 then
    error("no request bodies in " .. tostring(args[1]))
  end
  index = math.random(#bodies)
end

function request()
  index = index % #bodies + 1
  return wrk.format("POST", nil, headers, bodies[index])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.3f, "requests_per_s": %.2f, '
      .. '"latency_ms": {"mean": %.3f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
