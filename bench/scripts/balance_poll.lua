-- The live-balance poll of open card pages: each request carries the ETag last seen for its card
-- (as the page's If-None-Match does), so an unchanged balance is answered 304 without a body.
local cookie = os.getenv("BENCH_COOKIE")
local threads = {}
local ids = {}
local etags = {}
local n = 0
answered = 0
not_modified = 0

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  for id in string.gmatch(os.getenv("BENCH_CARD_IDS"), "%d+") do ids[#ids + 1] = id end
end

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local headers = {["Cookie"] = cookie, ["HX-Request"] = "true", ["Accept-Encoding"] = "gzip"}
  if etags[id] then headers["If-None-Match"] = etags[id] end
  return wrk.format("GET", "/wallet/cards/" .. id .. "/balance", headers)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 304 then
    not_modified = not_modified + 1
  elseif status == 200 then
    -- The fragment names its own card in the URL it polls: learn that card's new ETag.
    local id = string.match(body, "/wallet/cards/(%d+)/balance")
    if id then etags[id] = headers["ETag"] end
  end
end

function done(summary, latency, requests)
  local total, hits = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("answered")
    hits = hits + thread:get("not_modified")
  end
  io.write(string.format("Polls answered 304: %d of %d\n", hits, total))
end
