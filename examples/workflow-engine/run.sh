#!/usr/bin/env bash
# The workflow-engine example in one command: build the plugins and the engine, start three
# executions of a 3-step workflow (task `reserve`, timer `payment-window`, task `ship`) through
# its API, kill the engine (worker and reducer) with SIGKILL mid-run and restart it under the
# same consumer name, wait until every execution is completed, and check that each step
# happened exactly once.
#
#   examples/workflow-engine/run.sh                 # embedded store: every part in one process
#   examples/workflow-engine/run.sh --redis         # a private redis-server on a free port; the
#                                                   # executor is a process of its own, crashes
#                                                   # mid-run and is restarted
#   examples/workflow-engine/run.sh --store URL     # any store URL (redis:// as with --redis)
#
# WORKFLOW_ENGINE=<path to a workflow-engine binary> skips building it;
# EDDY_SKIP_PLUGIN_BUILD=1 skips building the plugins.
set -euo pipefail
source "$(dirname "$0")/../common.sh" "$@"

build_plugins
if [ -z "${WORKFLOW_ENGINE:-}" ]; then
    echo "== building the engine"
    cargo build --release --quiet -p workflow-engine
    WORKFLOW_ENGINE=$root/target/release/workflow-engine
fi

if $redis; then
    start_private_redis
fi
store=${store:-embedded:$work/data}
# Timers wait 2 s, so that the engine can be killed while executions wait for theirs.
engine=("$WORKFLOW_ENGINE" --store "$store" --plugins plugins/target/wasm32-wasip2/release --timer-ms 2000)

fail() { echo "FAILED: $*" >&2; exit 1; }

# On the embedded store one process runs every part; on Redis the executor runs apart and
# is made to crash after its 2nd task completion, before acknowledging it.
separate_executor=false
case "$store" in redis://*) separate_executor=true ;; esac
if $separate_executor; then
    role=api
    echo "== starting the executor (consumer executor-1), set to crash after 2 task completions"
    "${engine[@]}" --role executor --crash-after 2 2>"$work/executor-1.log" &
    executor=$!
    pids+=($executor)
else
    role=all
fi

# Starts the engine (API, worker and reducer; with the executor on the embedded store) as
# consumer engine-1, logging to $1; sets $engine_pid and $base.
start_engine() {
    "${engine[@]}" --role "$role" --engine-consumer engine-1 --listen 127.0.0.1:0 2>"$1" &
    engine_pid=$!
    pids+=($engine_pid)
    until grep -qs 'workflow-engine listening' "$1"; do
        if ! kill -0 "$engine_pid" 2>/dev/null; then cat "$1" >&2; exit 1; fi
        sleep 0.1
    done
    addr=$(sed -n 's/.*address=\([^ ]*\).*/\1/p' "$1" | head -1)
    base="http://$addr"
    echo "   listening on $addr"
}

echo "== starting workflow-engine (--role $role) on $store"
start_engine "$work/engine.log"

executions=(ex-1 ex-2 ex-3)
for id in "${executions[@]}"; do
    echo "== POST /executions $id"
    curl -sf "$base/executions" -H 'content-type: application/json' \
        -d "{\"id\":\"$id\",\"input\":{\"order\":\"o-$id\"}}" | jq -c .
done
echo "== POST /executions ex-1 again: it exists → 409"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/executions" -H 'content-type: application/json' -d '{"id":"ex-1"}')
[ "$code" = 409 ] || fail "a second start answered $code"
echo "   $code"

if $separate_executor; then
    echo "== waiting for the executor to crash mid-run"
    status=0
    wait "$executor" || status=$?
    [ "$status" = 3 ] || { cat "$work/executor-1.log" >&2; fail "the executor ended with $status, not its crash"; }
    grep 'crashing on purpose' "$work/executor-1.log" | sed 's/^.*WARN /   /'
    echo "== restarting it (same consumer): it resumes from its group's position and pending events"
    "${engine[@]}" --role executor 2>"$work/executor-2.log" &
    pids+=($!)
fi

echo "== killing the engine (SIGKILL) mid-run, once an execution waits for its timer"
waiting=""
for _ in $(seq 1 600); do
    for id in "${executions[@]}"; do
        status=$(curl -sf "$base/api/v1/projections/executions/$id" | jq -r .state.status || true)
        if [ "$status" = waiting ]; then waiting=$id; break; fi
    done
    [ -n "$waiting" ] && break
    sleep 0.05
done
[ -n "$waiting" ] || fail "no execution reached its timer"
kill -KILL "$engine_pid"
wait "$engine_pid" 2>/dev/null || true
echo "   killed while $waiting was waiting; restarting it as the same consumer (engine-1):"
echo "   the worker resumes from its group's checkpoint, taking back any batch it held"
start_engine "$work/engine-2.log"

echo "== waiting for every execution to complete (GET /api/v1/projections/executions/<id>)"
for id in "${executions[@]}"; do
    for _ in $(seq 1 600); do
        state=$(curl -sf "$base/api/v1/projections/executions/$id" || echo '{}')
        [ "$(echo "$state" | jq -r .state.status)" = completed ] && break
        sleep 0.1
    done
    echo "$state" | jq -c "{execution: \"$id\", status: .state.status, step: .state.step, tasks: (.state.tasks | map_values(\"\(.status)×\(.attempts)\")), events: .state.events, ignored: .state.ignored}"
    [ "$(echo "$state" | jq -c '[.state.status, .state.events, .state.ignored, .state.tasks.reserve.attempts, .state.tasks.ship.attempts]')" = '["completed",8,0,1,1]' ] ||
        fail "$id did not complete its 8 events with each task once"
done

echo "== each step exactly once in the history (GET /api/v1/streams/flunq/events)"
history=$(curl -sf "$base/api/v1/streams/flunq/events?limit=1000")
steps=$(echo "$history" | jq -c '[.events[].event | [.subject, (.type | ltrimstr("io.flunq.")), (.data.task_id // .data.timer_id // "")]] | group_by(.) | map(.[0] + [length])')
echo "$steps" | jq -c '.[]' | sed 's/^/   /'
[ "$(echo "$steps" | jq length)" = 27 ] || fail "expected 9 distinct events per execution"
[ "$(echo "$steps" | jq '[.[][3]] | all(. == 1)')" = true ] || fail "a step happened more than once"

if $separate_executor; then
    echo "== the restarted executor took over the unacknowledged task: its completion was a duplicate"
    for _ in $(seq 1 300); do
        grep -qs 'duplicate=true' "$work/executor-2.log" && break
        sleep 0.1
    done
    grep 'duplicate=true' "$work/executor-2.log" | sed 's/^.*INFO /   /' ||
        fail "the restarted executor did not take over the crashed one's task"
fi

echo "workflow-engine example: OK"
