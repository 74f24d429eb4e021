#!/usr/bin/env bash
# The crud-audit example in one command: build the plugins and the service, start the service
# (Eddy runs inside it as a library), drive it with curl, check the results, stop.
#
#   examples/crud-audit/run.sh                 # embedded store in a temporary folder
#   examples/crud-audit/run.sh --redis         # a private redis-server on a free port
#   examples/crud-audit/run.sh --store URL     # any store URL
#
# CRUD_AUDIT=<path to a crud-audit-service binary> skips building it;
# EDDY_SKIP_PLUGIN_BUILD=1 skips building the plugins.
set -euo pipefail
source "$(dirname "$0")/../common.sh" "$@"

build_plugins
if [ -z "${CRUD_AUDIT:-}" ]; then
    echo "== building the service"
    cargo build --release --quiet -p crud-audit-service
    CRUD_AUDIT=$root/target/release/crud-audit-service
fi

if $redis; then
    start_private_redis
fi
store=${store:-embedded:$work/data}

echo "== starting crud-audit-service on $store"
"$CRUD_AUDIT" --listen 127.0.0.1:0 --store "$store" --instance api-1 \
    --plugins plugins/target/wasm32-wasip2/release 2>"$work/service.log" &
pids+=($!)
until grep -qs 'crud-audit listening' "$work/service.log"; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$work/service.log" >&2; exit 1; fi
    sleep 0.1
done
addr=$(sed -n 's/.*address=\([^ ]*\).*/\1/p' "$work/service.log" | head -1)
base="http://$addr"
echo "   listening on $addr"

fail() { echo "FAILED: $*" >&2; exit 1; }
as_admin=(-H 'x-user-id: admin' -H 'x-session-id: s-1' -H 'content-type: application/json')

echo "== POST /users ada (answers once welcome-mail and audit have processed the event)"
created=$(curl -sf "$base/users" "${as_admin[@]}" -d '{"id":"ada","name":"Ada","email":"ada@example.com"}')
echo "$created" | jq -c .
[ "$(echo "$created" | jq -c '[.subscriptions["welcome-mail"].status, .subscriptions.audit.status]')" = '["completed","completed"]' ] ||
    fail "the create was not processed"

echo "== POST /users ada again: the subject exists (expected version 0) → 409"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/users" "${as_admin[@]}" -d '{"id":"ada","name":"Ada","email":"ada@example.com"}')
[ "$code" = 409 ] || fail "a second create answered $code"
echo "   $code"

echo "== PUT /users/ada (asynchronous)"
curl -sf -X PUT "$base/users/ada" -H 'x-user-id: ada' -H 'x-session-id: s-2' \
    -H 'content-type: application/json' -d '{"name":"Ada Lovelace","email":"ada@example.com"}' | jq -c .

echo "== POST /users bob, then DELETE /users/bob (answers once audit and deletions have it)"
curl -sf "$base/users" "${as_admin[@]}" -d '{"id":"bob","name":"Bob","email":"bob@example.com"}' >/dev/null
deleted=$(curl -sf -X DELETE "$base/users/bob" "${as_admin[@]}")
echo "$deleted" | jq -c .
[ "$(echo "$deleted" | jq -r .subscriptions.deletions.status)" = completed ] ||
    fail "the delete was not processed by deletions"

echo "== welcome mails (the mails stream)"
mails=$(curl -sf "$base/api/v1/streams/mails/events")
echo "$mails" | jq -c '.events[].event | {type, subject, data}'
[ "$(echo "$mails" | jq -c '[.events[].event.data.to]')" = '["ada@example.com","bob@example.com"]' ] ||
    fail "expected one welcome mail per created user"

echo "== the deletions projection (pattern *.*.delete) knows only bob"
[ "$(curl -sf "$base/api/v1/projections/deletions" | jq -c .subjects)" = '["users/bob"]' ] ||
    fail "deletions should hold users/bob alone"

echo "== GET /users/ada/events: each event's status per subscription"
for _ in $(seq 1 600); do
    events=$(curl -sf "$base/users/ada/events")
    settled=$(echo "$events" | jq '[.events[].subscriptions[].status] | all(. == "completed")')
    [ "$settled" = true ] && break
    sleep 0.1
done
echo "$events" | jq -c '.events[] | {type, subscriptions: (.subscriptions | map_values(.status))}'
[ "$settled" = true ] || fail "ada's events were not all processed"

echo "== GET /users/ada: the audit trail (who, which session, which instance)"
audit=$(curl -sf "$base/users/ada")
echo "$audit" | jq -c '.trail[]'
[ "$(echo "$audit" | jq -c '[.trail[] | [.operation, .user, .session, .instance]]')" = '[["create","admin","s-1","api-1"],["update","ada","s-2","api-1"]]' ] ||
    fail "the audit trail is not right"
[ "$(echo "$audit" | jq -r .data.name)" = "Ada Lovelace" ] || fail "the update is not in the audit"

echo "crud-audit example: OK"
