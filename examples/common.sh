# What every example's run.sh does first, sourced as `source "$(dirname "$0")/../common.sh" "$@"`:
# go to the repository root, read `--redis` / `--store URL`, make a work folder, and stop every
# process in `pids` and remove the folder on exit. Then the script calls `build_plugins` and,
# with `--redis`, `start_private_redis` (which sets `store`).

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

store=""
redis=false
while [ $# -gt 0 ]; do
    case "$1" in
        --redis) redis=true ;;
        --store) store=$2; shift ;;
        *) echo "usage: $0 [--redis | --store URL]" >&2; exit 2 ;;
    esac
    shift
done

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Builds the plugins, unless EDDY_SKIP_PLUGIN_BUILD=1 (CI builds them once for the whole run).
build_plugins() {
    if [ "${EDDY_SKIP_PLUGIN_BUILD:-}" != 1 ]; then
        echo "== building the plugins"
        (cd plugins && cargo build --release --quiet)
    fi
}

# A private Redis on a free loopback port, without persistence, gone when we are; sets `store`.
start_private_redis() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
    pids+=($!)
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/redis.log" >&2; exit 1; }
        sleep 0.1
    done
    store="redis://127.0.0.1:$port/0"
}
