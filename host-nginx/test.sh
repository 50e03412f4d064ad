#!/usr/bin/env bash
# End-to-end test of the nginx module: builds the plugins and the mock upstream (main
# workspace) and the module (build.sh), then runs tests/e2e.py and the shared behaviour table
# (tests/table.py, ../tests/behaviours/table.json) against the real /usr/sbin/nginx, then counts
# the module's allocations per request (tests/allocations.py). Runs all three, exits non-zero if
# any failed; each ends with `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

echo "== building the plugins" >&2
(cd "$root" && cargo build -p keyward-weighted-selector -p keyward-round-robin-selector -p keyward-governance >&2)
echo "== building the out-of-tree example plugin (examples/priority-selector)" >&2
(cd "$root" && cargo build --locked --manifest-path examples/priority-selector/Cargo.toml --target-dir target >&2)
echo "== building the mock upstream" >&2
(cd "$root" && cargo build -p keyward-host --bin keyward-mock-upstream >&2)
echo "== building the module" >&2
module="$("$here/build.sh" | tail -1)"
echo "== fmt, clippy and unit tests (host-nginx)" >&2
(
    cd "$here"
    export NGINX_SOURCE_DIR="$here/target/nginx-src" NGINX_BUILD_DIR="$here/target/nginx-src/objs"
    cargo fmt -- --check >&2
    cargo clippy --all-targets --locked -q -- -D warnings >&2
    cargo clippy --lib --features count-allocations --locked -q -- -D warnings >&2
    cargo test --lib --locked -q >&2
)
echo "== end-to-end" >&2
# The reload check rebuilds the selector (touching its sources forces a new build at the same path).
rebuild="touch '$root/plugins/weighted-selector/src/lib.rs' && cd '$root' && cargo build -q -p keyward-weighted-selector"
status=0
python3 "$here/tests/e2e.py" --module "$module" --plugins "$root/target/debug" --rebuild-cmd "$rebuild" \
    --example-plugin "$root/target/debug/libpriority_selector.so" || status=1
echo "== behaviour table" >&2
python3 "$here/tests/table.py" --module "$module" --plugins "$root/target/debug" \
    --mock-upstream "$root/target/debug/keyward-mock-upstream" || status=1
echo "== allocations per request (module built with count-allocations)" >&2
counting="$("$here/build.sh" --count-allocations | tail -1)"
# 52.0: the module before the gateway core (tests/allocations.py says how it was measured).
python3 "$here/tests/allocations.py" --module "$counting" --plugins "$root/target/debug" \
    --mock-upstream "$root/target/debug/keyward-mock-upstream" --before 52 || status=1
exit "$status"
