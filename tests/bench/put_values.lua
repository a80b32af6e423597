-- put_values.lua — wrk script for `make bench`: PUT /api/v1/submissions/{id}/values
-- with 10 new random values. BENCH_SUBS names a file of lines
-- "id version code:min:max:type,..." (10 indicators; type n number,
-- i integer, b boolean); each wrk thread owns the
-- lines of its rank (BENCH_THREADS threads). A submission is written by one
-- request at a time: the request carries X-Request-Id "s<id>-<n>", the daemon
-- echoes it, and the answer's ETag (or, after a 412, the ETag its detail names)
-- becomes the next If-Match. A submission answered otherwise is set aside and
-- re-read with a GET before its next write.
local subs, ready, counter, seq = {}, {}, 0, 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local n = 0
  for line in io.lines(os.getenv("BENCH_SUBS")) do
    n = n + 1
    if n % nthreads == (tid or 1) - 1 then
      local id, version, inds = line:match("^(%d+) (%d+) (%S+)$")
      local s = {id = id, etag = '"' .. version .. '"', inds = {}, state = "ready"}
      for code, lo, hi, kind in inds:gmatch("([^:,]+):([^:,]+):([^:,]+):([nib])") do
        s.inds[#s.inds + 1] = {code = code, lo = tonumber(lo), hi = tonumber(hi), kind = kind}
      end
      subs[id] = s
      ready[#ready + 1] = s
    end
  end
  assert(#ready > 0, "no submissions for thread " .. tostring(tid))
  math.randomseed(os.time() * 100 + (tid or 0))
end

-- wrk.format() sends only the headers it is given: add those of -H.
local function headers(h)
  for k, v in pairs(wrk.headers) do
    if h[k] == nil then h[k] = v end
  end
  return h
end

local function value(ind)
  if ind.kind == "b" then return math.random() < 0.5 and "true" or "false" end
  local v = ind.lo + math.random() * (ind.hi - ind.lo)
  if ind.kind == "i" then return string.format("%d", math.floor(v)) end
  return string.format("%.2f", math.floor(v * 100) / 100)
end

function request()
  local s = table.remove(ready)
  if not s then
    -- every submission is in flight or lost: re-read one to learn its ETag
    for _, t in pairs(subs) do
      if t.state == "lost" then s = t; break end
    end
    assert(s, "more connections than submissions")
    s.state = "busy"
    seq = seq + 1
    return wrk.format("GET", "/api/v1/submissions/" .. s.id,
                      headers({["X-Request-Id"] = "s" .. s.id .. "-" .. seq}))
  end
  s.state = "busy"
  seq = seq + 1
  local items = {}
  for i, ind in ipairs(s.inds) do
    items[i] = string.format('{"indicator":"%s","value":%s}', ind.code, value(ind))
  end
  return wrk.format("PUT", "/api/v1/submissions/" .. s.id .. "/values",
                    headers({["Content-Type"] = "application/json", ["If-Match"] = s.etag,
                             ["X-Request-Id"] = "s" .. s.id .. "-" .. seq}),
                    '{"values":[' .. table.concat(items, ",") .. ']}')
end

function response(status, headers, body)
  local rid = headers["X-Request-Id"] or headers["x-request-id"] or ""
  local s = subs[rid:match("^s(%d+)-") or ""]
  if not s then return end
  local etag = headers["ETag"] or headers["Etag"] or headers["etag"]
  if status == 412 then
    etag = body:match('ETag is now \\"(%d+)\\"')
    etag = etag and ('"' .. etag .. '"')
  elseif status ~= 200 then
    etag = nil
  end
  if etag then
    s.etag, s.state = etag, "ready"
    ready[#ready + 1] = s
  else
    s.state = "lost"
  end
end
