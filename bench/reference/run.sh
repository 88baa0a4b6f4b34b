#!/bin/sh
# The reference Node.js provider's client-credentials figure on this machine, measured like
# `make bench` measures ours: the server pinned to core 0, wrk (1 thread, 16 connections) pinned
# to core 1, 2 s warm-up, 10 s run. ACCESS_TOKEN_FORMAT=opaque stores each token (in memory).
set -eu
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --silent
PORT=${PORT:-8766}
NODE_ENV=production PORT=$PORT taskset -c 0 node server.js >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/jwks" >/dev/null && break; sleep 0.1; done
script=$(mktemp)
cat >"$script" <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtc2VjcmV0"
LUA
taskset -c 1 wrk -t1 -c16 -d2s -s "$script" "http://127.0.0.1:$PORT/token" >/dev/null
taskset -c 1 wrk -t1 -c16 -d10s --latency -s "$script" "http://127.0.0.1:$PORT/token" |
  grep -E "Requests/sec|Non-2xx| 50%| 99%"
rm -f "$script"
