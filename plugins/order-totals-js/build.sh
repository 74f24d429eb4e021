#!/usr/bin/env bash
# Builds order-totals-js into target/order_totals_js.wasm, a component of the per-event world
# eddy:plugin/reducer. Installs its toolchain (componentize-js, pinned in package-lock.json)
# into node_modules/ with `npm ci` when needed; needs Node.js 20+ and npm.
# Cached: does nothing when the sources, the lock file and the WIT are unchanged.
set -euo pipefail
cd "$(dirname "$0")"

out=target/order_totals_js.wasm
stamp=target/.build-stamp
inputs=(order_totals.js package.json package-lock.json build.sh ../../wit/plugin.wit)
hash=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
    echo "order-totals-js: up to date ($out)"
    exit 0
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

mkdir -p target
# http and fetch-event are disabled: the component imports no wasi:http.
node node_modules/@bytecodealliance/componentize-js/src/cli.js order_totals.js \
    --wit ../../wit --world-name reducer --disable http fetch-event --out "$out.tmp"
mv "$out.tmp" "$out"
echo "$hash" > "$stamp"
echo "order-totals-js: built $out"
