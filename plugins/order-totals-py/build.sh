#!/usr/bin/env bash
# Builds order-totals-py into target/order_totals_py.wasm, a component of the per-event world
# eddy:plugin/reducer. Installs its toolchain (componentize-py, pinned below) into a virtual
# environment under target/venv when needed; needs Python 3.10+ with venv and pip.
# Cached: does nothing when the sources and the WIT are unchanged.
set -euo pipefail
cd "$(dirname "$0")"

componentize_py=componentize-py==0.25.1
out=target/order_totals_py.wasm
stamp=target/.build-stamp
inputs=(app.py build.sh ../../wit/plugin.wit)
hash=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
    echo "order-totals-py: up to date ($out)"
    exit 0
fi

venv=target/venv
if [ "$("$venv/bin/componentize-py" --version 2>/dev/null)" != "${componentize_py/==/ }" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$componentize_py"
fi

mkdir -p target
"$venv/bin/componentize-py" -d ../../wit -w reducer componentize app -o "$out.tmp"
mv "$out.tmp" "$out"
echo "$hash" > "$stamp"
echo "order-totals-py: built $out"
