-- GET a signed-in customer's card pages (the full page, as on first load), cards in turn.
local cookie = os.getenv("BENCH_COOKIE")
local ids = {}
local n = 0

function init(args)
  for id in string.gmatch(os.getenv("BENCH_CARD_IDS"), "%d+") do ids[#ids + 1] = id end
end

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  return wrk.format("GET", "/wallet/cards/" .. id, {["Cookie"] = cookie, ["Accept-Encoding"] = "gzip"})
end
