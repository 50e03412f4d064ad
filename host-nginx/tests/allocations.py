#!/usr/bin/env python3
"""Heap allocations per plain request in the nginx module: the module built with the test-only
`count-allocations` feature counts its Rust code's allocations (`$keyward_allocations`, written
to the access log as each request ends). On one keep-alive connection, after a warm-up, five
batches of admitted chat completions (the behaviour table's configuration, the mock upstream);
the fewest allocations per request over the batches is the figure, and it must not exceed
`--before` (what the module measured before the gateway core: 52.0 on commit f561670, patched
with the same feature, on this project's 2-core VM, 2026-12-02). Last line: `N passed, M failed`.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e import NGINX, free_port, stop_nginx, wait_for  # noqa: E402
from table import BEHAVIOURS, ROOT, Mock, nginx_conf  # noqa: E402

BATCHES = 5
PER_BATCH = 100
BODY = json.dumps({"model": "gpt-4o", "max_tokens": 20,
                   "messages": [{"role": "user", "content": "Hello"}]})


def counts(access_log):
    return [int(line.split()[1]) for line in open(access_log) if line.startswith("alloc ")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True, help="the module built with --count-allocations")
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--mock-upstream", default=os.path.join(ROOT, "target", "debug", "keyward-mock-upstream"))
    parser.add_argument("--before", type=float, required=True)
    # An older module (measuring `--before`) has no $keyward_upstream_url.
    parser.add_argument("--proxy-pass", default="$keyward_upstream_url")
    args = parser.parse_args()
    args.module, args.plugins = os.path.abspath(args.module), os.path.abspath(args.plugins)
    tmp = tempfile.mkdtemp(prefix="keyward-nginx-allocations-")
    os.chmod(tmp, 0o755)
    mock = None
    failed = 0
    try:
        mock = Mock(args.mock_upstream, tmp)
        mock.wait_ready()
        config = json.loads(open(os.path.join(BEHAVIOURS, "config.json")).read()
                            .replace("{{UPSTREAM}}", f"http://127.0.0.1:{mock.port}"))
        config["plugins"] = {
            "key_selection": {"path": os.path.join(args.plugins, "libkeyward_weighted_selector.so")},
            "governance": {"path": os.path.join(args.plugins, "libkeyward_governance.so")},
        }
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f)
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(tmp, args.module, port, log_format="'alloc $keyward_allocations $status'",
                               proxy_pass=args.proxy_pass))
        result = subprocess.run([NGINX, "-p", tmp, "-c", conf], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"nginx did not start: {result.stderr.strip()}")
        with socket.socket() as s:
            if not wait_for(lambda: s.connect_ex(("127.0.0.1", port)) == 0):
                raise RuntimeError("nginx does not listen")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        headers = {"Content-Type": "application/json", "x-bf-vk": "sk-bf-a-0123456789"}

        def one():
            connection.request("POST", "/v1/chat/completions", body=BODY, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"a plain request answered {response.status}")

        for _ in range(50):
            one()
        access_log = os.path.join(tmp, "access.log")
        fewest = None
        for _ in range(BATCHES):
            start = len(counts(access_log))
            for _ in range(PER_BATCH):
                one()
            if not wait_for(lambda: len(counts(access_log)) >= start + PER_BATCH):
                raise RuntimeError("the access log misses requests")
            seen = counts(access_log)
            per_request = (seen[start + PER_BATCH - 1] - seen[start - 1]) / PER_BATCH
            fewest = per_request if fewest is None else min(fewest, per_request)
        print(f"allocations per plain request: {fewest:.1f} (before the core: {args.before:.1f})")
        if fewest <= 0:
            failed += 1
            print("FAIL the count sees none of the module's work")
        elif fewest > args.before:
            failed += 1
            print(f"FAIL {fewest:.1f} allocations per request, more than the {args.before:.1f} before the core")
        else:
            print("ok   no more allocations per request than before the core")
    except Exception as error:
        failed += 1
        print(f"FAIL runner: {error!r}")
    finally:
        stop_nginx(tmp)
        if mock is not None:
            mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{0 if failed else 1} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
