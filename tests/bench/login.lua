-- login.lua — wrk script for `make bench`: POST /api/v1/auth/token with the
-- login and password of BENCH_LOGIN / BENCH_PASSWORD (always right, so the
-- throttle never locks; every request pays one argon2id verification).
wrk.method = "POST"
wrk.path = "/api/v1/auth/token"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"login":"%s","password":"%s"}', os.getenv("BENCH_LOGIN"),
                         os.getenv("BENCH_PASSWORD"))
