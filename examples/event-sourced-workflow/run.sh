#!/usr/bin/env bash
# The event-sourced-workflow example in one command: build Eddy and the plugins, start `eddy
# serve` with the workflow-state reducer (snapshots every 3 events of an execution), publish a
# workflow history, then show each execution's state now and as of earlier points (time
# travel: `eddy state --at` and `?at=` on the API), recomputed from the nearest snapshot and
# equal to an offline `eddy replay --until`. Checks every answer, then stops.
#
#   examples/event-sourced-workflow/run.sh                 # embedded store in a temporary folder
#   examples/event-sourced-workflow/run.sh --redis         # a private redis-server on a free port
#   examples/event-sourced-workflow/run.sh --store URL     # any store URL
#
# EDDY=<path to an eddy binary> skips building Eddy; EDDY_SKIP_PLUGIN_BUILD=1 skips building
# the plugins (CI builds them once for the whole run).
set -euo pipefail
source "$(dirname "$0")/../common.sh" "$@"
here=examples/event-sourced-workflow
reducer=plugins/target/wasm32-wasip2/release/workflow_state.wasm

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
export EDDY_URL="http://$addr"
echo "   listening on $addr"

fail() { echo "FAILED: $*" >&2; exit 1; }
# The parts of an execution's state worth a line: status, step, tasks, timers.
summary='{status: .state.status, step: .state.step, tasks: (.state.tasks | map_values("\(.status)×\(.attempts)")), timers: .state.timers}'

echo "== publishing $(wc -l <"$here/events.jsonl") events of two executions (one batch)"
jq -s . "$here/events.jsonl" | curl -sf "$api/streams/executions/events" \
    -H 'content-type: application/cloudevents-batch+json' --data-binary @- >/dev/null

echo "== waiting for the executions subscription to fold them"
for _ in $(seq 1 600); do
    lag=$(curl -sf "$api/subscriptions/executions" | jq '[.streams[] | .lag == 0 and .checkpoint != null] | all')
    [ "$lag" = true ] && break
    sleep 0.1
done
[ "$lag" = true ] || fail "the subscription did not catch up"

echo "== eddy state executions ex-1 (now)"
now=$("$EDDY" state executions ex-1)
echo "$now" | jq -c "$summary"
[ "$(echo "$now" | jq -c '[.state.status, .state.events, .state.tasks.charge.attempts]')" = '["completed",12,2]' ] ||
    fail "ex-1 should be completed after 12 events, the charge on its second attempt"

echo "== eddy state executions ex-2 (now)"
ex2=$("$EDDY" state executions ex-2)
echo "$ex2" | jq -c "$summary"
[ "$(echo "$ex2" | jq -c '[.state.status, .state.timers]')" = '["waiting",["remind-at-noon"]]' ] ||
    fail "ex-2 should be waiting for its timer"

echo "== eddy state executions ex-1 --at 2026-02-01T10:00:09Z (just after the card was declined)"
declined=$("$EDDY" state executions ex-1 --at 2026-02-01T10:00:09Z)
echo "$declined" | jq -c "$summary + {from_snapshot, replayed}"
[ "$(echo "$declined" | jq -c '[.state.status, .state.step, .state.tasks.charge.status, .state.tasks.charge.error, .events]')" = '["running","charge","failed","card declined",7]' ] ||
    fail "at 10:00:09 ex-1 should have seen 7 events, its charge failed"
# Snapshots every 3 events: the 6th event's snapshot, then one event replayed.
[ "$(echo "$declined" | jq -r '.from_snapshot != null and .replayed == 1')" = true ] ||
    fail "the state at 10:00:09 should be recomputed from the snapshot after ex-1's 6th event"

echo "== the same, offline: eddy replay --until e-09 (the declined charge) over the same events"
offline=$("$EDDY" replay --plugin "$reducer" --events "$here/events.jsonl" --subject ex-1 --until e-09)
[ "$(echo "$offline" | jq -cS .)" = "$(echo "$declined" | jq -cS .state)" ] ||
    fail "the API's state at 10:00:09 differs from replay --until e-09"
echo "   equal"

echo "== GET /projections/executions/ex-1?at=<position of e-05> (the timer scheduled)"
position=$(curl -sf "$api/streams/executions/events/e-05" | jq -r .position)
waiting=$(curl -sf "$api/projections/executions/ex-1?at=$position")
echo "$waiting" | jq -c "$summary + {at: \"$position\", from_snapshot, replayed}"
[ "$(echo "$waiting" | jq -c '[.state.status, .state.timers, .state.tasks.reserve.status, .events]')" = '["waiting",["payment-window"],"completed",4]' ] ||
    fail "at e-05 ex-1 should be waiting for the payment window"
[ "$(echo "$waiting" | jq -r '.from_snapshot != null and .replayed == 1')" = true ] ||
    fail "the state at e-05 should be recomputed from the snapshot after ex-1's 3rd event"

echo "== ex-1 before its first event: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' "$api/projections/executions/ex-1?at=2026-02-01T09:00:00Z")
[ "$code" = 404 ] || fail "a state before the first event answered $code"
echo "   $code"

echo "event-sourced-workflow example: OK"
