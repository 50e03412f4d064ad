#!/usr/bin/env bash
# End-to-end test of the nginx module: builds the plugins and the mock upstream (main
# workspace) and the module (build.sh), then runs tests/e2e.py and the shared behaviour table
# (tests/table.py, ../tests/behaviours/table.json) against the real /usr/sbin/nginx. Runs both,
# exits non-zero if either failed; each ends with `N passed, M failed` (the table's is last).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

echo "== building the plugins" >&2
(cd "$root" && cargo build -p keyward-weighted-selector -p keyward-round-robin-selector -p keyward-governance >&2)
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
    cargo test --lib --locked -q >&2
)
echo "== end-to-end" >&2
# The reload check rebuilds the selector (touching its sources forces a new build at the same path).
rebuild="touch '$root/plugins/weighted-selector/src/lib.rs' && cd '$root' && cargo build -q -p keyward-weighted-selector"
status=0
python3 "$here/tests/e2e.py" --module "$module" --plugins "$root/target/debug" --rebuild-cmd "$rebuild" || status=1
echo "== behaviour table" >&2
python3 "$here/tests/table.py" --module "$module" --plugins "$root/target/debug" \
    --mock-upstream "$root/target/debug/keyward-mock-upstream" || status=1
exit "$status"
