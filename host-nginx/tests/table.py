#!/usr/bin/env python3
"""Runs the shared gateway behaviour table (tests/behaviours/table.json, described in
tests/behaviours/README.md) against the real /usr/sbin/nginx with ngx_http_keyward_module.

Starts the Rust mock upstream (keyward-mock-upstream) on a loopback port, writes the table's
config.json ({{UPSTREAM}} replaced, the plugins block added) and an nginx.conf into a temporary
directory, starts nginx (worker_processes 1), and runs every case not skipped for nginx, with the
nginx differences applied. What was charged is read from `$keyward_charge` in the access log.
nginx and the mock are stopped at the end, whatever happened. Prints one line per step and, last,
`N passed, M failed`; exits non-zero on any failure.

Usage: table.py --module PATH.so --plugins DIR [--mock-upstream PATH] [--keep]
"""

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import NGINX, free_port, stop_nginx, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BEHAVIOURS = os.path.join(ROOT, "tests", "behaviours")
HOST = "nginx"
KNOWN_EXPECT = {"status", "type", "param", "retry_after", "content_type", "body_contains",
                "models", "upstream", "upstream_ends_with", "charge"}


def nginx_conf(tmp, module, port, log_format="'$remote_port $status $keyward_decision \"$keyward_charge\"'",
               proxy_pass="$keyward_upstream_url"):
    return f"""
load_module {module};
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format table {log_format};
    access_log {tmp}/access.log table;
    keyward_config {tmp}/config.json;
    server {{
        listen 127.0.0.1:{port};
        location /v1/ {{
            keyward on;
            keyward_max_body_size 16k;
            client_body_buffer_size 16k;
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_set_header Authorization "Bearer $keyward_key";
            proxy_set_header X-Bf-Vk "";
            proxy_set_header Accept-Encoding "";
            proxy_pass {proxy_pass};
        }}
    }}
}}
"""


# ---- the mock upstream ---------------------------------------------------------------------

class Mock:
    """keyward-mock-upstream on a free loopback port, stopped by pid."""

    def __init__(self, binary, tmp):
        self.port = free_port()
        self.log_path = os.path.join(tmp, "mock-upstream.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([binary, f"127.0.0.1:{self.port}"],
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        def listening():
            if self.process.poll() is not None:
                return True
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_for(listening, 10)
        if self.process.poll() is not None:
            raise RuntimeError(f"keyward-mock-upstream exited: {open(self.log_path).read()[-500:]}")

    def call(self, method, path="/mock/requests"):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            body = response.read()
            if response.status >= 300:
                raise RuntimeError(f"mock {method} {path}: {response.status}")
            return body
        finally:
            connection.close()

    def clear(self):
        self.call("DELETE")

    def requests(self):
        return json.loads(self.call("GET"))

    def stop(self):
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


# ---- requests ------------------------------------------------------------------------------

class Answer:
    def __init__(self, status, headers, body, local_port):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body
        self.local_port = local_port


def send(port, method, path, headers, body, timeout=15):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.connect()
        local_port = connection.sock.getsockname()[1]
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers)
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data, local_port)
    finally:
        connection.close()


class Dechunker:
    """Decodes a chunked body incrementally."""

    def __init__(self):
        self.pending = b""
        self.out = b""
        self.remaining = None  # bytes left in the current chunk (None: a size line comes next)
        self.done = False

    def feed(self, data):
        self.pending += data
        while not self.done:
            if self.remaining is None:  # a size line
                end = self.pending.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.pending[:end].split(b";")[0].strip() or b"0", 16)
                self.pending = self.pending[end + 2:]
                if size == 0:
                    self.done = True
                    return
                self.remaining = size
            elif self.remaining > 0:  # chunk data
                take = min(len(self.pending), self.remaining)
                if take == 0:
                    return
                self.out += self.pending[:take]
                self.pending = self.pending[take:]
                self.remaining -= take
            else:  # the CRLF after the chunk's data
                if len(self.pending) < 2:
                    return
                self.pending = self.pending[2:]
                self.remaining = None


def sse_events(body):
    """The complete `data:` events in `body` (each ended by a blank line)."""
    events = body.replace(b"\r\n", b"\n").split(b"\n\n")[:-1]
    return [e for e in events if any(line.startswith(b"data:") for line in e.split(b"\n"))]


def send_and_leave(port, method, path, headers, body, events_wanted, timeout=15):
    """Sends the request on a raw socket, reads `events_wanted` server-sent events, closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        local_port = sock.getsockname()[1]
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        raw = b""
        while b"\r\n\r\n" not in raw:
            piece = sock.recv(65536)
            if not piece:
                raise RuntimeError(f"connection closed before the response headers: {raw[:300]!r}")
            raw += piece
        head, rest = raw.split(b"\r\n\r\n", 1)
        head_lines = head.decode("latin-1").split("\r\n")
        status = int(head_lines[0].split()[1])
        answer_headers = {}
        for line in head_lines[1:]:
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        chunked = "chunked" in answer_headers.get("transfer-encoding", "").lower()
        dechunker = Dechunker()
        plain = bytearray()

        def feed(data):
            if chunked:
                dechunker.feed(data)
            else:
                plain.extend(data)

        def decoded():
            return dechunker.out if chunked else bytes(plain)

        feed(rest)
        while len(sse_events(decoded())) < events_wanted and not dechunker.done:
            piece = sock.recv(65536)
            if not piece:
                break
            feed(piece)
        return Answer(status, answer_headers, decoded(), local_port)
    finally:
        sock.close()


# ---- the access log ------------------------------------------------------------------------

def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def access_line(path, offset, local_port, seconds):
    """The access log line of the request from `local_port`, written after `offset`, waiting
    for it."""
    found = []

    def look():
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return False
        for line in lines:
            if line.split(" ", 1)[0] == str(local_port):
                found.append(line)
                return True
        return False

    wait_for(look, seconds)
    return found[0] if found else None


def parse_charge(line):
    """`$keyward_charge` from a log line: None (nothing charged) or (input, cached, output)."""
    value = line.rsplit('"', 2)[-2] if line.count('"') >= 2 else "-"
    if value in ("", "-", "release"):
        return None, value
    if not value.startswith("settle:"):
        return "unknown", value
    parts = value[len("settle:"):].split("/")
    return tuple(int(p) for p in parts), value


# ---- checks --------------------------------------------------------------------------------

def entry_matches(entry, want):
    return all(entry.get(field) == value for field, value in want.items())


def check_step(step, expect, answer, received, log_line):
    """What differs between `expect` and what happened (empty: the step passed)."""
    problems = []
    body_bytes = step["request"]["body"].encode()
    for field in expect:
        if field not in KNOWN_EXPECT:
            problems.append(f"unknown expect field {field!r}")
    text = answer.body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(answer.body)
    except ValueError:
        doc = None
    # The gateway's envelope always carries `event_id` and `status_code` (tests/support/table.rs).
    envelope = isinstance(doc, dict) and "event_id" in doc and "status_code" in doc
    error = (doc.get("error") if isinstance(doc, dict) else None) or {}
    if not isinstance(error, dict):
        error = {}

    if "status" in expect and answer.status != expect["status"]:
        problems.append(f"status {answer.status}, want {expect['status']} (body {text[:300]!r})")
    if "type" in expect:
        want = expect["type"]
        if want is None:
            if envelope:
                problems.append(f"the gateway's envelope, want the upstream's answer: {text[:300]!r}")
        elif not (isinstance(doc, dict) and doc.get("type") == want and error.get("type") == want):
            problems.append(f"type {doc.get('type') if isinstance(doc, dict) else None!r} / error.type "
                            f"{error.get('type')!r}, want {want!r} (body {text[:300]!r})")
    if "param" in expect and error.get("param") != expect["param"]:
        problems.append(f"error.param {error.get('param')!r}, want {expect['param']!r}")
    if "retry_after" in expect:
        retry_after = answer.headers.get("retry-after")
        if expect["retry_after"]:
            if retry_after is None or not retry_after.strip().isdigit():
                problems.append(f"Retry-After {retry_after!r}, want whole seconds")
        elif retry_after is not None:
            problems.append(f"Retry-After {retry_after!r}, want none")
    if "content_type" in expect:
        content_type = answer.headers.get("content-type", "")
        if not content_type.startswith(expect["content_type"]):
            problems.append(f"Content-Type {content_type!r}, want {expect['content_type']!r}…")
    if "body_contains" in expect and expect["body_contains"] not in text:
        problems.append(f"body lacks {expect['body_contains']!r}: {text[-300:]!r}")
    if "models" in expect:
        data = doc.get("data") if isinstance(doc, dict) else None
        ids = [m.get("id") for m in data] if isinstance(data, list) else None
        if ids != expect["models"]:
            problems.append(f"models {ids!r}, want {expect['models']!r}")
    if "upstream" in expect:
        want = expect["upstream"]
        if len(received) != len(want) or not all(entry_matches(e, w) for e, w in zip(received, want)):
            problems.append(f"upstream received {json.dumps(received)}, want {json.dumps(want)}")
    if "upstream_ends_with" in expect:
        want = expect["upstream_ends_with"]
        tail = received[-len(want):] if want else []
        if len(received) < len(want) or not all(entry_matches(e, w) for e, w in zip(tail, want)):
            problems.append(f"upstream received {json.dumps(received)}, want it to end with {json.dumps(want)}")
    if "charge" in expect:
        want = expect["charge"]
        if log_line is None:
            problems.append("no access log line for the request")
        else:
            charge, raw = parse_charge(log_line)
            if want is None:
                if charge is not None:
                    problems.append(f"$keyward_charge {raw!r}, want nothing charged (- or release)")
            else:
                wanted_input = want["input"]
                if wanted_input == "estimate":
                    wanted_input = math.ceil(len(body_bytes) / 4)
                output = want["output"]
                shown = f"{output[0]}..{output[1]}" if isinstance(output, list) else output
                settled = isinstance(charge, tuple) and len(charge) == 3
                output_ok = settled and ((output[0] <= charge[2] <= output[1]) if isinstance(output, list)
                                         else charge[2] == output)
                if not (settled and charge[0] == wanted_input and charge[1] == want["cached"] and output_ok):
                    problems.append(f"$keyward_charge {raw!r}, want settle:{wanted_input}/{want['cached']}/{shown}")
    return problems


# ---- the run -------------------------------------------------------------------------------

def run_table(table, port, mock, access_log):
    passed = failed = 0
    for case in table["cases"]:
        name = case["name"]
        skip = (case.get("skip") or {}).get(HOST)
        if skip:
            print(f"skip {name}: {skip}")
            continue
        overrides = ((case.get("differences") or {}).get(HOST) or {}).get("expect") or {}
        for index, step in enumerate(case["steps"], 1):
            label = f"{name} [step {index}]"
            try:
                request = step["request"]
                expect = dict(step["expect"], **overrides)
                method = request.get("method", "POST")
                path = request.get("path", "/v1/chat/completions")
                headers = request.get("headers") or {}
                body = request.get("body", "").encode()
                mock.clear()
                offset = log_size(access_log)
                leave = request.get("leave_after_events")
                if leave is not None:
                    answer = send_and_leave(port, method, path, headers, body, leave)
                else:
                    answer = send(port, method, path, headers, body)
                received = mock.requests()
                # nginx logs a request once it ended; a client that left is noticed at the
                # next write to it. Every step waits for its line so none is left to the next.
                log_line = access_line(access_log, offset, answer.local_port, 5 if leave is not None else 3)
                problems = check_step(step, expect, answer, received, log_line)
            except Exception as error:  # a crash of a step is its failure
                problems = [f"runner error: {error!r}"]
            if problems:
                failed += 1
                print(f"FAIL {label}: " + "; ".join(problems))
            else:
                passed += 1
                print(f"ok   {label}")
    return passed, failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--mock-upstream", default=os.path.join(ROOT, "target", "debug", "keyward-mock-upstream"))
    parser.add_argument("--table", default=os.path.join(BEHAVIOURS, "table.json"))
    parser.add_argument("--config", default=os.path.join(BEHAVIOURS, "config.json"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    # nginx resolves relative paths against its prefix (the temporary directory).
    args.module, args.plugins = os.path.abspath(args.module), os.path.abspath(args.plugins)
    passed = failed = 0

    table = json.load(open(args.table))
    tmp = tempfile.mkdtemp(prefix="keyward-nginx-table-")
    os.chmod(tmp, 0o755)  # workers may run as an unprivileged user
    mock = None
    try:
        mock = Mock(args.mock_upstream, tmp)
        mock.wait_ready()
        config = json.loads(open(args.config).read().replace("{{UPSTREAM}}", f"http://127.0.0.1:{mock.port}"))
        config["plugins"] = {
            "key_selection": {"path": os.path.join(args.plugins, "libkeyward_weighted_selector.so")},
            "governance": {"path": os.path.join(args.plugins, "libkeyward_governance.so")},
        }
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(tmp, args.module, port))
        result = subprocess.run([NGINX, "-p", tmp, "-c", conf], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"nginx did not start: {result.stderr.strip()}")
        with socket.socket() as s:
            if not wait_for(lambda: s.connect_ex(("127.0.0.1", port)) == 0):
                raise RuntimeError("nginx does not listen")
        passed, failed = run_table(table, port, mock, os.path.join(tmp, "access.log"))
    except Exception as error:
        failed += 1
        print(f"FAIL runner: {error!r}")
    finally:
        stop_nginx(tmp)
        if mock is not None:
            mock.stop()
        error_log = os.path.join(tmp, "error.log")
        log = open(error_log, errors="replace").read() if os.path.exists(error_log) else ""
        if "exited on signal" in log:
            failed += 1
            print("FAIL no worker crashed: " + log[-1000:])
        if failed:
            print("---- error.log (tail) ----")
            print(log[-4000:])
        if args.keep or failed:
            print(f"(kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
