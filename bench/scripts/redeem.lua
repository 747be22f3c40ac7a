-- POST /api/v1/cards/redeem over many cards (the code in the body), each request with its own Idempotency-Key.
local codes = {}
local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN") or "0"
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
  math.randomseed(os.time() * 1000 + (thread_no or 0))
end

function request()
  counter = counter + 1
  local code = codes[math.random(#codes)]
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run .. "-" .. (thread_no or 0) .. "-" .. counter,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/api/v1/cards/redeem", headers, '{"code":"' .. code .. '","amount":"0.01"}')
end
