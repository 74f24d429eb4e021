#!/usr/bin/env bash
# The orders example in one command: build Eddy and the plugins, start `eddy serve` with the
# order-totals reducer and the high-value handler, drive it with curl, check the results, stop.
#
#   examples/orders/run.sh                 # embedded store in a temporary folder
#   examples/orders/run.sh --redis         # a private redis-server on a free port
#   examples/orders/run.sh --store URL     # any store URL (redis://host:port/db, embedded:dir)
#
# EDDY=<path to an eddy binary> skips building Eddy; EDDY_SKIP_PLUGIN_BUILD=1 skips building
# the plugins (CI builds them once for the whole run).
set -euo pipefail
source "$(dirname "$0")/../common.sh" "$@"
here=examples/orders

build_plugins
if [ -z "${EDDY:-}" ]; then
    echo "== building eddy"
    cargo build --release --quiet --bin eddy
    EDDY=$root/target/release/eddy
fi

if $redis; then
    start_private_redis
fi
store=${store:-embedded:$work/data}

echo "== starting eddy on $store"
"$EDDY" serve --listen 127.0.0.1:0 --store "$store" --config "$here/eddy.toml" \
    --plugins "$work/plugins" 2>"$work/eddy.log" &
pids+=($!)
until grep -qs 'serving the Eddy API' "$work/eddy.log"; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$work/eddy.log" >&2; exit 1; fi
    sleep 0.1
done
addr=$(sed -n 's/.*address=\([^ ]*\).*/\1/p' "$work/eddy.log" | head -1)
api="http://$addr/api/v1"
echo "   listening on $addr"

fail() { echo "FAILED: $*" >&2; exit 1; }

echo "== publishing $(wc -l <"$here/events.jsonl") events (one batch)"
jq -s . "$here/events.jsonl" | curl -sf "$api/streams/orders/events" \
    -H 'content-type: application/cloudevents-batch+json' --data-binary @- | jq -c .

echo "== paying 12900 cents for o-1, waiting for both subscriptions (Eddy-Wait-For)"
paid=$(curl -sf "$api/streams/orders/events" \
    -H 'content-type: application/cloudevents+json' \
    -H 'Eddy-Wait-For: order-totals,high-value' -H 'Eddy-Wait-Timeout: 20000' \
    -d '{"specversion":"1.0","id":"o1-paid","source":"/shop","type":"order.paid","subject":"o-1","time":"2026-01-01T09:00:03Z","data":{"amount_cents":12900}}')
echo "$paid" | jq .
[ "$(echo "$paid" | jq -r '.results[0].subscriptions["high-value"].status')" = completed ] ||
    fail "the payment was not processed by high-value"
[ "$(echo "$paid" | jq -r '.results[0].subscriptions["order-totals"].status')" = completed ] ||
    fail "the payment was not processed by order-totals"

echo "== the state of o-1 (order-totals)"
o1=$(curl -sf "$api/projections/order-totals/o-1")
echo "$o1" | jq .state
[ "$(echo "$o1" | jq -c '[.state.status, .state.total_cents, .state.paid_cents]')" = '["paid",12900,12900]' ] ||
    fail "o-1 is not paid in full"

echo "== alerts (high-value, threshold 10000 cents)"
alerts=$(curl -sf "$api/streams/alerts/events")
echo "$alerts" | jq -c '.events[].event | {type, subject, data}'
[ "$(echo "$alerts" | jq -c '[.events[].event.subject]')" = '["o-1"]' ] ||
    fail "expected exactly one alert, for o-1"

echo "== o-2's payment, asked afterwards: its processing status per subscription"
# Published asynchronously above: wait until both subscriptions are done with it.
for _ in $(seq 1 600); do
    status=$(curl -sf "$api/streams/orders/events/o2-paid/status")
    settled=$(echo "$status" | jq '[.subscriptions[].status] | all(. == "completed")')
    [ "$settled" = true ] && break
    sleep 0.1
done
echo "$status" | jq -c .
[ "$settled" = true ] || fail "o2-paid was not processed"
[ "$(curl -sf "$api/projections/order-totals/o-2" | jq -r .state.status)" = paid ] ||
    fail "o-2 is not paid"

echo "orders example: OK"
