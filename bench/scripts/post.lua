-- A plain POST with an empty JSON body (the database ceiling).
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
