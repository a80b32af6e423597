-- mix.lua — wrk script for `make soak`: a mixed load of reads of several
-- resources with a bearer token, conditional GETs (304), PATCHes with If-Match
-- and logins, until each thread has SOAK_REQUESTS / SOAK_THREADS answers.
-- Every answer's status is counted; done() prints "soak-status <code> <n>" lines.
-- A thread at its quota appends its number to SOAK_DONE_FILE and stops.
-- Each thread PATCHes its own organization (SOAK_WRITE_ORGS, one per thread),
-- one PATCH in flight at a time: the request carries X-Request-Id "w<tid>-<n>",
-- the daemon echoes it, and the answer's ETag becomes the next If-Match.
local counter, threads = 0, {}
local orgs, managers = {}, {}
local token, campaign, etag_agg, login_body
local quota, answered, seq = 0, 0, 0
local write_org, write_etag, write_busy = nil, nil, false
counts = {}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end

local function lines(path)
  local t = {}
  for line in io.lines(path) do
    if line ~= "" then t[#t + 1] = line end
  end
  assert(#t > 0, "no lines in " .. path)
  return t
end

function init(args)
  orgs = lines(os.getenv("SOAK_ORGS"))
  managers = lines(os.getenv("SOAK_MANAGERS"))
  token = "Bearer " .. os.getenv("SOAK_TOKEN")
  campaign = os.getenv("SOAK_CAMPAIGN")
  etag_agg = os.getenv("SOAK_AGG_ETAG")
  login_body = string.format('{"login":"%s","password":"%s"}', os.getenv("SOAK_LOGIN"),
                             os.getenv("SOAK_PASSWORD"))
  local nthreads = tonumber(os.getenv("SOAK_THREADS"))
  quota = math.ceil(tonumber(os.getenv("SOAK_REQUESTS")) / nthreads)
  local w = lines(os.getenv("SOAK_WRITE_ORGS"))
  local id, etag = w[tid]:match("^(%d+) (%S+)$")
  write_org, write_etag = id, etag
  math.randomseed(os.time() * 100 + tid)
end

local function get(path, extra)
  local h = {Authorization = token}
  if extra then
    for k, v in pairs(extra) do h[k] = v end
  end
  return wrk.format("GET", path, h)
end

-- 1 in 10 000 a login (argon2id is expensive), 1 in 50 a PATCH, the rest reads.
function request()
  seq = seq + 1
  if seq % 10000 == 0 then
    return wrk.format("POST", "/api/v1/auth/token", {["Content-Type"] = "application/json"},
                      login_body)
  end
  if seq % 50 == 0 and not write_busy then
    write_busy = true
    return wrk.format("PATCH", "/api/v1/organizations/" .. write_org,
                      {Authorization = token, ["Content-Type"] = "application/json",
                       ["If-Match"] = write_etag, ["X-Request-Id"] = "w" .. tid .. "-" .. seq},
                      string.format('{"students":%d}', 100 + seq % 900))
  end
  local r = seq % 20
  if r < 6 then
    return get("/api/v1/organizations/" .. orgs[math.random(#orgs)])
  elseif r < 8 then
    return get("/api/v1/organizations?limit=20&sort=name")
  elseif r < 10 then
    return get("/api/v1/managers/" .. managers[math.random(#managers)])
  elseif r < 12 then
    return get("/api/v1/campaigns/" .. campaign .. "/scores?limit=50")
  elseif r < 13 then
    return get("/api/v1/aggregates?campaign=" .. campaign .. "&group_by=municipality")
  elseif r < 15 then
    return get("/api/v1/aggregates?campaign=" .. campaign .. "&group_by=municipality",
               {["If-None-Match"] = etag_agg})
  elseif r < 17 then
    return get("/api/v1/auth/me")
  elseif r < 18 then
    return get("/api/v1/submissions?campaign_id=" .. campaign .. "&limit=20")
  elseif r < 19 then
    return get("/api/v1/roadmaps")
  end
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  local key = tostring(status)
  local rid = headers["X-Request-Id"] or headers["x-request-id"]
  if rid and rid:sub(1, 1) == "w" then
    key = "patch-" .. key
    write_busy = false
    if status == 200 then
      write_etag = headers["ETag"] or headers["etag"] or write_etag
    end
  end
  counts[key] = (counts[key] or 0) + 1
  answered = answered + 1
  if answered == quota then
    -- wrk's main thread sleeps out -d: tell soak.sh, which interrupts it
    local f = assert(io.open(os.getenv("SOAK_DONE_FILE"), "a"))
    f:write(tid, "\n")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do
      total[k] = (total[k] or 0) + v
    end
  end
  for k, v in pairs(total) do
    io.write(string.format("soak-status %s %d\n", k, v))
  end
  io.write(string.format("soak-latency p50 %.2f p99 %.2f max %.2f ms\n",
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                         latency.max / 1000))
end
