#!/usr/bin/env bash
# The production build on a migrated PostgreSQL: `npm run build`, the compiled migrator, then
# `node dist/server/node.js` as bulkhead_app with NODE_ENV=production — ready, serving a
# registration, metrics on METRICS_PORT, and stopping cleanly on SIGTERM. No tsx anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

db="bulkhead_ci_build_$$"
admin="postgres://postgres@127.0.0.1:5432"
port=$((21000 + RANDOM % 2000))
psql "$admin/postgres" -qc "create database $db"
cleanup() { psql "$admin/postgres" -qc "drop database if exists $db with (force)" || true; }
trap cleanup EXIT

npm run build
DATABASE_URL="$admin/$db" node dist/server/cli/db-migrate.js

NODE_ENV=production PORT=$port HOST=127.0.0.1 DATABASE_URL="postgres://bulkhead_app@127.0.0.1:5432/$db" \
  JWT_SECRET="ci-production-build-secret-0123456789abcdef" ENCRYPTION_KEY="$(openssl rand -base64 32)" SMTP_URL="smtp://127.0.0.1:2525" OUTBOX_POLL_MS=0 \
  METRICS_PORT=$((port + 1)) \
  node dist/server/node.js > /tmp/bulkhead-build-$$.log 2>&1 &
server=$!
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/readyz"; echo
slug="ci-$$"
registered=$(curl -sf -X POST "http://127.0.0.1:$port/trpc/auth.registerTenant" -H 'content-type: application/json' \
  -d "{\"json\":{\"tenant\":{\"name\":\"CI\",\"slug\":\"$slug\"},\"owner\":{\"email\":\"owner@$slug.test\",\"password\":\"a long enough passphrase here\",\"name\":\"CI Owner\"}}}")
grep -q '"accessToken"' <<<"$registered"
echo "registered a tenant through the built server"
# Metrics on their own port only; the access log has a line for the registration.
# (read whole first: grep -q stops at its match, and curl, cut off, would fail the pipeline)
scrape=$(curl -s "http://127.0.0.1:$((port + 1))/metrics")
grep -q 'bulkhead_requests_total{procedure="auth.registerTenant",code="OK"} 1' <<<"$scrape"
test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")" = 404
grep -q '"procedures":\["auth.registerTenant"\]' /tmp/bulkhead-build-$$.log
echo "metrics on METRICS_PORT, an access-log line per request"
kill -TERM "$server"
wait "$server"
grep -q '"message":"stopped"' /tmp/bulkhead-build-$$.log
echo "node dist/server/node.js: ready, served, stopped on SIGTERM"
