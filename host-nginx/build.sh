#!/usr/bin/env bash
# Builds ngx_http_keyward_module.so against Debian's nginx (nginx 1.22 + nginx-dev).
#
# 1. installs nginx, nginx-dev, libclang-dev, libpcre2-dev, libssl-dev, zlib1g-dev when missing;
# 2. copies Debian's unconfigured nginx source tree (/usr/share/nginx/src) to a build directory
#    and runs ./configure with Debian's module flags (/usr/share/nginx/src/conf_flags, which
#    include --with-compat), so the module signature matches /usr/sbin/nginx;
# 3. builds the crate with NGINX_SOURCE_DIR / NGINX_BUILD_DIR pointing there.
#
# No nginx source is downloaded. Output: host-nginx/target/<profile>/ngx_http_keyward_module.so
# (the path is printed on the last line). Usage: host-nginx/build.sh [--release]
# [--count-allocations] (the test-only feature behind `$keyward_allocations`; its module is
# written as ngx_http_keyward_module.counting.so beside the plain one).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
profile=debug
cargo_flags=()
output=ngx_http_keyward_module.so
for arg in "$@"; do
    case "$arg" in
    --release)
        profile=release
        cargo_flags+=(--release)
        ;;
    --count-allocations)
        cargo_flags+=(--features count-allocations)
        output=ngx_http_keyward_module.counting.so
        ;;
    *)
        echo "build.sh: unknown option $arg (--release, --count-allocations)" >&2
        exit 2
        ;;
    esac
done

need=()
[[ -x /usr/sbin/nginx ]] || need+=(nginx)
[[ -f /usr/share/nginx/src/conf_flags ]] || need+=(nginx-dev)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
dpkg -s libpcre2-dev >/dev/null 2>&1 || need+=(libpcre2-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
if ((${#need[@]})); then
    echo "build.sh: installing ${need[*]}" >&2
    sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

src=/usr/share/nginx/src
build="$here/target/nginx-src"
# shellcheck disable=SC1091
source "$src/conf_flags" # defines NGX_CONF_FLAGS=( ... )
stamp="$build/.keyward-configured"
want="$(/usr/sbin/nginx -v 2>&1) ${NGX_CONF_FLAGS[*]}"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -f "$build/objs/ngx_auto_config.h" ]]; then
    echo "build.sh: configuring nginx sources in $build" >&2
    rm -rf "$build"
    mkdir -p "$build"
    cp -a "$src/." "$build/"
    (cd "$build" && ./configure "${NGX_CONF_FLAGS[@]}" >configure.log 2>&1) || {
        tail -30 "$build/configure.log" >&2
        exit 1
    }
    printf '%s' "$want" >"$stamp"
fi

export NGINX_SOURCE_DIR="$build"
export NGINX_BUILD_DIR="$build/objs"
cd "$here"
# --locked: host-nginx/Cargo.lock is committed and must stay current with ../plugin-api and
# ../host-core; a change there that moves a dependency fails here until the lock is refreshed
# (`cargo update -p <crate>` or `cargo generate-lockfile` in host-nginx/, then commit it).
if ! cargo build "${cargo_flags[@]}" --locked --lib >&2; then
    echo "build.sh: the build failed; if cargo said the lock file needs updating, host-nginx/Cargo.lock is stale: refresh it in host-nginx/ and commit it" >&2
    exit 1
fi
so="$here/target/$profile/libngx_http_keyward_module.so"
cp -f "$so" "$here/target/$profile/.$output.tmp"
mv -f "$here/target/$profile/.$output.tmp" "$here/target/$profile/$output"
echo "$here/target/$profile/$output"
