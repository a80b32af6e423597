-- ids.lua — wrk script for `make bench`: GET of a path with a random id drawn
-- from a file, one id a line. BENCH_IDS names the file, BENCH_PATH the path
-- with %s where the id goes; the bearer token comes with wrk's -H.
local ids, path = {}, os.getenv("BENCH_PATH")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_IDS")) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  assert(#ids > 0, "no ids in " .. os.getenv("BENCH_IDS"))
  math.randomseed(os.time() * 100 + (tid or 0))
end

function request()
  return wrk.format("GET", string.format(path, ids[math.random(#ids)]))
end
