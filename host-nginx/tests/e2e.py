#!/usr/bin/env python3
"""End-to-end test of ngx_http_keyward_module in the real /usr/sbin/nginx.

Starts a mock OpenAI-compatible upstream on loopback, writes an nginx.conf (loopback port,
pid/logs/temp paths in a temporary directory, worker_processes 1, load_module), starts nginx,
and checks admissions, every denial and its envelope, usage settlement (JSON and SSE), release
on upstream failure, a reload with a rebuilt plugin, and the worker_processes guard. nginx is
stopped through its pid file at the end, whatever happened. Prints `N passed, M failed`.

Usage: e2e.py --module PATH.so --plugins DIR [--rebuild-cmd CMD]
"""

import argparse
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

NGINX = "/usr/sbin/nginx"
KEY_A = "sk-upstream-aaaa-0123456789"
KEY_B = "sk-upstream-bbbb-9876543210"
USAGE = {"prompt_tokens": 50, "completion_tokens": 50, "total_tokens": 100}


class Upstream(http.server.BaseHTTPRequestHandler):
    """A mock OpenAI-compatible upstream: records each request, answers with `usage`."""

    protocol_version = "HTTP/1.1"
    seen = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with Upstream.lock:
            Upstream.seen.append({
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "x-bf-vk": self.headers.get("X-Bf-Vk"),
                "body": body,
                "length": length,
            })
        model = (body or {}).get("model", "")
        if model == "slow-model":
            time.sleep(1.5)
        if model == "fail-model":
            return self.reply(500, "application/json", b'{"error": {"message": "upstream broke"}}')
        if (body or {}).get("stream"):
            events = [
                {"id": "c1", "choices": [{"delta": {"content": "hel"}}], "usage": None},
                {"id": "c1", "choices": [{"delta": {"content": "lo"}}], "usage": None},
            ]
            # Like OpenAI: the usage chunk only when asked for (the module asks for it).
            if ((body or {}).get("stream_options") or {}).get("include_usage"):
                events.append({"id": "c1", "choices": [], "usage": USAGE})
            data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
            return self.reply(200, "text/event-stream", data + b"data: [DONE]\n\n")
        answer = {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
                  "usage": USAGE}
        self.reply(200, "application/json", json.dumps(answer).encode())

    def reply(self, status, content_type, data):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # nginx gave up on this request (client abort test)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, condition, detail=""):
        if condition:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")


def post(port, payload, vk=None, path="/v1/chat/completions", raw=None, timeout=15):
    data = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if vk:
        request.add_header("x-bf-vk", vk)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post_chunked(port, payload, vk):
    data = json.dumps(payload).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    connection.putrequest("POST", "/v1/chat/completions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("x-bf-vk", vk)
    connection.endheaders()
    for i in range(0, len(data), 16):
        piece = data[i:i + 16]
        connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    connection.send(b"0\r\n\r\n")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def chat(model, **kw):
    return dict({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}, **kw)


def config(upstream_port, plugins):
    budget = lambda i, dollars: [{"id": i, "max_limit": dollars, "reset_duration": "1M"}]
    openai = [{"provider": "openai", "allowed_models": ["*"], "key_ids": ["*"]}]
    return {
        "providers": {"openai": {
            "keys": [
                {"id": "k-a", "name": "a", "value": "env.KW_E2E_KEY_A", "models": ["*"], "weight": 1},
                {"id": "k-b", "name": "b", "value": KEY_B, "models": ["*"], "weight": 1},
            ],
            "network_config": {"base_url": f"http://127.0.0.1:{upstream_port}"},
        }},
        # As a user writes it (Bifrost's client block), not the governance plugin's own field.
        "client": {"enforce_auth_on_inference": True, "allowed_origins": ["https://app.example.com"]},
        "governance": {
            "pricing": {
                "test-model": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001},
                "fail-model": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001},
                "slow-model": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001},
            },
            "virtual_keys": [
                {"id": "vk-main", "value": "sk-bf-main", "provider_configs": [
                    {"provider": "openai", "allowed_models": ["test-model"], "key_ids": ["*"],
                     "blacklisted_models": ["blocked-model"]}]},
                {"id": "vk-rl", "value": "sk-bf-rl", "provider_configs": openai,
                 "rate_limit": {"request_max_limit": 2, "request_reset_duration": "1h"}},
                {"id": "vk-budget", "value": "sk-bf-budget", "provider_configs": openai,
                 "budgets": budget("b-json", 0.25)},
                {"id": "vk-sse", "value": "sk-bf-sse", "provider_configs": openai,
                 "budgets": budget("b-sse", 0.25)},
                {"id": "vk-fail", "value": "sk-bf-fail", "provider_configs": openai,
                 "budgets": budget("b-fail", 0.05)},
                {"id": "vk-abort", "value": "sk-bf-abort", "provider_configs": openai,
                 "budgets": budget("b-abort", 0.05)},
                {"id": "vk-reload", "value": "sk-bf-reload", "provider_configs": openai},
                {"id": "vk-route", "value": "sk-bf-route", "provider_configs": openai},
            ],
            # Bifrost's routing rules: a header and a query parameter send the request to
            # another model.
            "routing_rules": [
                {"id": "e2e-route", "name": "header and query", "scope": "virtual_key",
                 "scope_id": "vk-route",
                 "cel_expression": "headers[\"X-Route\"] == \"yes\" && params[\"via\"] == \"query\"",
                 "targets": [{"provider": "openai", "model": "test-model", "weight": 1}]},
            ],
        },
        "plugins": {
            "key_selection": {"path": os.path.join(plugins, "libkeyward_weighted_selector.so")},
            "governance": {"path": os.path.join(plugins, "libkeyward_governance.so")},
        },
    }


def nginx_conf(tmp, module, port, workers=1, extra_main=""):
    return f"""
load_module {module};
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format keyward '$status $keyward_decision $keyward_key_id $keyward_provider $keyward_model $keyward_virtual_key rule=$keyward_routing_rule';
    access_log {tmp}/access.log keyward;
    keyward_config {tmp}/config.json;
    {extra_main}
    server {{
        listen 127.0.0.1:{port};
        location /v1/ {{
            keyward on;
            keyward_max_body_size 16k;
            client_body_buffer_size 16k;
            proxy_http_version 1.1;
            proxy_set_header Authorization "Bearer $keyward_key";
            proxy_set_header X-Bf-Vk "";
            proxy_set_header Accept-Encoding "";
            proxy_pass $keyward_base_url$request_uri;
        }}
        location /small/ {{
            keyward on;
            keyward_max_body_size 64k;
            client_body_buffer_size 1k;
            proxy_http_version 1.1;
            proxy_set_header Authorization "Bearer $keyward_key";
            proxy_set_header Accept-Encoding "";
            proxy_pass $keyward_base_url$request_uri;
        }}
        location /open/ {{
            return 200 "ungated\\n";
        }}
    }}
}}
"""


def envelope_ok(run, name, status, headers, body, code, want_status, gateway=False):
    """Checks keyward-host's envelope. Plugin denials carry `error.code` = the type; the
    gateway's own errors (bad request, too large) carry `code: null`, as in keyward-host."""
    try:
        doc = json.loads(body)
    except ValueError:
        run.check(name, False, f"not JSON: {body[:200]!r}")
        return None
    error = doc.get("error") or {}
    ok = (status == want_status and doc.get("type") == code and doc.get("status_code") == want_status
          and doc.get("is_bifrost_error") is True and error.get("type") == code
          and error.get("code") == (None if gateway else code) and bool(error.get("message"))
          and error.get("event_id") == doc.get("event_id") and bool(doc.get("event_id"))
          and "application/json" in headers.get("Content-Type", ""))
    run.check(name, ok, f"status={status} body={body[:300]!r}")
    return doc


def wait_for(predicate, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def stop_nginx(tmp):
    pid_file = os.path.join(tmp, "nginx.pid")
    try:
        pid = int(open(pid_file).read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    if not wait_for(lambda: not os.path.exists(pid_file), 10):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--rebuild-cmd", default="")
    parser.add_argument("--example-plugin", default="", help="examples/priority-selector's .so")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run = Run()

    tmp = tempfile.mkdtemp(prefix="keyward-nginx-")
    os.chmod(tmp, 0o755)  # workers may run as an unprivileged user
    plugins = os.path.join(tmp, "plugins")
    os.makedirs(plugins)
    for name in ("libkeyward_weighted_selector.so", "libkeyward_governance.so"):
        shutil.copy(os.path.join(args.plugins, name), plugins)

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config(upstream.server_address[1], plugins), f, indent=1)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(tmp, args.module, port))
    env = dict(os.environ, KW_E2E_KEY_A=KEY_A)

    try:
        test(run, tmp, conf, port, env, args)
    except Exception as error:  # a crash is a failure, and nginx is still stopped
        run.check("test driver", False, repr(error))
    finally:
        stop_nginx(tmp)
        upstream.shutdown()
        log = open(os.path.join(tmp, "error.log"), errors="replace").read() if os.path.exists(os.path.join(tmp, "error.log")) else ""
        run.check("no secret in the error log", KEY_A not in log and KEY_B not in log and "sk-bf-main" not in log)
        run.check("no worker crashed", "exited on signal" not in log, log[-2000:])
        if run.failed:
            print("---- error.log (tail) ----")
            print(log[-4000:])
        if args.keep or run.failed:
            print(f"(kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


def test(run, tmp, conf, port, env, args):
    # The worker_processes guard, with `nginx -t`.
    for workers, extra, want in ((2, "", False), (2, "keyward_per_worker_limits on;", True)):
        other = os.path.join(tmp, f"nginx-w{workers}-{int(bool(extra))}.conf")
        with open(other, "w") as f:
            f.write(nginx_conf(tmp, args.module, port, workers, extra))
        result = subprocess.run([NGINX, "-t", "-p", tmp, "-c", other], env=env, capture_output=True, text=True)
        refused = "worker_processes is 2" in result.stderr
        run.check(f"worker_processes 2 {'acknowledged: accepted' if want else 'refused'}",
                  (result.returncode == 0) == want and refused != want, result.stderr[-600:])

    default_plugins(run, tmp, port, env, args)

    result = subprocess.run([NGINX, "-p", tmp, "-c", conf], env=env, capture_output=True, text=True)
    run.check("nginx starts with the module", result.returncode == 0, result.stderr)
    if result.returncode != 0:
        return
    pid_file = os.path.join(tmp, "nginx.pid")
    run.check("pid file written", wait_for(lambda: os.path.exists(pid_file)))
    with socket.socket() as s:
        run.check("nginx listens", wait_for(lambda: s.connect_ex(("127.0.0.1", port)) == 0))
    cors(run, port)


    # Admitted: reaches the upstream with the selected key, not the virtual key.
    before = len(Upstream.seen)
    status, headers, body = post(port, chat("test-model"), vk="sk-bf-main")
    seen = Upstream.seen[before:]
    run.check("admitted request answered 200", status == 200, f"{status} {body[:300]!r}")
    run.check("admitted request reached the upstream once", len(seen) == 1, str(seen))
    if seen:
        run.check("upstream got the selected key in Authorization",
                  seen[0]["authorization"] in (f"Bearer {KEY_A}", f"Bearer {KEY_B}"), str(seen[0]["authorization"])[:12])
        run.check("virtual key not forwarded upstream", not seen[0]["x-bf-vk"])
        run.check("upstream got the model", (seen[0]["body"] or {}).get("model") == "test-model")
    run.check("upstream answer passed through", status == 200 and json.loads(body).get("usage") == USAGE)
    # Both keys get used (weighted selection, env-backed and literal values).
    before = len(Upstream.seen)
    for _ in range(12):
        post(port, chat("test-model"), vk="sk-bf-main")
    used = {s["authorization"] for s in Upstream.seen[before:]}
    run.check("both provider keys are selected over 12 requests", used == {f"Bearer {KEY_A}", f"Bearer {KEY_B}"}, str(len(used)))

    # provider/model: the provider prefix is removed from the body sent upstream.
    before = len(Upstream.seen)
    status, _, body = post(port, chat("openai/test-model"), vk="sk-bf-main")
    seen = Upstream.seen[before:]
    run.check("provider/model admitted", status == 200, f"{status} {body[:300]!r}")
    run.check("upstream got the provider's model id and a matching length",
              len(seen) == 1 and seen[0]["body"] and seen[0]["body"].get("model") == "test-model"
              and seen[0]["body"].get("messages") == [{"role": "user", "content": "hi"}], str(seen)[:300])

    # Denials, each with keyward-host's status and envelope, none reaching the upstream.
    before = len(Upstream.seen)
    status, headers, body = post(port, chat("test-model"), vk="sk-bf-nope")
    doc = envelope_ok(run, "unknown virtual key: 403 virtual_key_not_found", status, headers, body, "virtual_key_not_found", 403)
    if doc:
        # The key is refused from the headers, before the body is read: the route is known, the
        # model is not.
        run.check("envelope extra_fields", doc.get("extra_fields", {}).get("request_type") == "chat_completion"
                  and "model_requested" not in doc["extra_fields"], str(doc.get("extra_fields")))
    status, headers, body = post(port, chat("test-model"))
    envelope_ok(run, "no virtual key: 401 virtual_key_required", status, headers, body, "virtual_key_required", 401)
    before_unkeyed = len(Upstream.seen)
    status, headers, body = post(port, chat("openai/test-model"))
    envelope_ok(run, "no virtual key, provider/model: 401 (client.enforce_auth_on_inference)",
                status, headers, body, "virtual_key_required", 401)
    run.check("an unauthenticated request never reaches the upstream", len(Upstream.seen) == before_unkeyed,
              f"{len(Upstream.seen) - before_unkeyed} upstream calls")
    status, headers, body = post(port, chat("blocked-model"), vk="sk-bf-main")
    envelope_ok(run, "blocked model: 403 model_blocked", status, headers, body, "model_blocked", 403)
    for i in range(2):
        status, _, body = post(port, chat("test-model"), vk="sk-bf-rl")
        run.check(f"rate-limited key: request {i + 1} admitted", status == 200, f"{status} {body[:200]!r}")
    status, headers, body = post(port, chat("test-model"), vk="sk-bf-rl")
    envelope_ok(run, "request limit: 429 request_limited", status, headers, body, "request_limited", 429)
    retry_after = headers.get("Retry-After", "")
    run.check("429 carries Retry-After in seconds", retry_after.isdigit() and int(retry_after) > 0, repr(retry_after))
    status, headers, body = post(port, None, vk="sk-bf-main", raw=b'{"messages": []}')
    doc = envelope_ok(run, "missing model: 400 invalid_request", status, headers, body, "invalid_request", 400, gateway=True)
    run.check("400 names the param", bool(doc) and doc["error"].get("param") == "model"
              and doc["extra_fields"].get("request_type") == "chat_completion")
    status, headers, body = post(port, chat("test-model", padding="x" * 20000), vk="sk-bf-main")
    envelope_ok(run, "body over keyward_max_body_size: 413", status, headers, body, "request_too_large", 413, gateway=True)
    run.check("no denial reached the upstream", len(Upstream.seen) == before + 2, f"{len(Upstream.seen) - before}")

    # Usage is charged from the upstream's JSON: $0.10 a request against $0.25 -> 3 requests.
    # (Charging the $0.015 estimate instead would admit 16.)
    def drain(vk, stream, limit=10):
        admitted = 0
        for _ in range(limit):
            payload = chat("test-model", stream=True) if stream else chat("test-model")
            status, headers, body = post(port, payload, vk=vk)
            if status != 200:
                return admitted, (status, headers, body)
            admitted += 1
        return admitted, None

    admitted, denial = drain("sk-bf-budget", stream=False)
    run.check("JSON usage charged: budget admits exactly 3 requests", admitted == 3, f"admitted {admitted}")
    if denial:
        envelope_ok(run, "budget: 402 budget_exceeded", *denial, "budget_exceeded", 402)
    before = len(Upstream.seen)
    admitted, denial = drain("sk-bf-sse", stream=True)
    run.check("SSE usage charged: budget admits exactly 3 streams", admitted == 3, f"admitted {admitted}")
    run.check("streams asked upstream for include_usage",
              all(((s["body"] or {}).get("stream_options") or {}).get("include_usage") is True
                  for s in Upstream.seen[before:]), str(Upstream.seen[before:])[:300])
    if denial:
        envelope_ok(run, "stream budget: 402 budget_exceeded", *denial, "budget_exceeded", 402)

    # An upstream failure releases the reservation: 3 failures ($0.015 reserved each against
    # $0.05) leave room for a real request.
    for i in range(3):
        status, _, _ = post(port, chat("fail-model"), vk="sk-bf-fail")
        run.check(f"upstream failure {i + 1} passed through as 500", status == 500, str(status))
    status, _, body = post(port, chat("test-model"), vk="sk-bf-fail")
    run.check("failed requests were released (next request admitted)", status == 200, f"{status} {body[:200]!r}")

    # A client that goes away releases the reservation: 3 aborted requests ($0.015 reserved
    # each against $0.05) leave room for a real one.
    for i in range(3):
        try:
            post(port, chat("slow-model"), vk="sk-bf-abort", timeout=0.3)
            aborted = False
        except (socket.timeout, TimeoutError, urllib.error.URLError):
            aborted = True
        run.check(f"client abort {i + 1}", aborted)
    time.sleep(1.8)  # the upstream answers; nginx notices the client is gone
    status, _, body = post(port, chat("test-model"), vk="sk-bf-abort")
    run.check("aborted requests were released (next request admitted)", status == 200, f"{status} {body[:200]!r}")

    # A body nginx buffered to a temporary file (over client_body_buffer_size), rewritten.
    before = len(Upstream.seen)
    big = chat("openai/test-model", padding="p" * 4000)
    status, _, body = post(port, big, vk="sk-bf-main", path="/small/v1/chat/completions")
    seen = Upstream.seen[before:]
    run.check("file-buffered body admitted", status == 200, f"{status} {body[:200]!r}")
    run.check("file-buffered body rewritten intact", len(seen) == 1 and seen[0]["body"]
              and seen[0]["body"].get("model") == "test-model" and seen[0]["body"].get("padding") == "p" * 4000)

    # A chunked request body, with and without the model rewrite.
    for model in ("test-model", "openai/test-model"):
        before = len(Upstream.seen)
        status, body = post_chunked(port, chat(model), "sk-bf-main")
        seen = Upstream.seen[before:]
        run.check(f"chunked body ({model}) admitted and forwarded", status == 200 and len(seen) == 1
                  and seen[0]["body"] and seen[0]["body"].get("model") == "test-model", f"{status} {body[:200]!r} {seen}")

    # A configuration whose plugin cannot be loaded is refused by `nginx -t`, naming the path.
    broken_dir = os.path.join(tmp, "broken")
    os.makedirs(broken_dir, exist_ok=True)
    broken = json.load(open(os.path.join(tmp, "config.json")))
    broken["plugins"]["governance"]["path"] = os.path.join(broken_dir, "missing.so")
    json.dump(broken, open(os.path.join(broken_dir, "config.json"), "w"))
    broken_conf = os.path.join(broken_dir, "nginx.conf")
    open(broken_conf, "w").write(nginx_conf(tmp, args.module, port).replace(
        f"keyward_config {tmp}/config.json", f"keyward_config {broken_dir}/config.json"))
    result = subprocess.run([NGINX, "-t", "-p", tmp, "-c", broken_conf], env=env, capture_output=True, text=True)
    run.check("nginx -t refuses a missing plugin, naming it", result.returncode != 0 and "missing.so" in result.stderr, result.stderr[-500:])

    # A routing rule (header and query parameter) sends the request to its target model.
    before = len(Upstream.seen)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions?via=query",
                                     data=json.dumps(chat("test-model-alias")).encode(), method="POST")
    for name, value in (("Content-Type", "application/json"), ("x-bf-vk", "sk-bf-route"), ("x-route", "yes")):
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=15) as response:
        routed_status = response.status
    seen = Upstream.seen[before:]
    run.check("a routing rule sends the request to its target model",
              routed_status == 200 and len(seen) == 1 and (seen[0]["body"] or {}).get("model") == "test-model",
              f"{routed_status} {seen}")
    status, _, _ = post(port, chat("test-model"), vk="sk-bf-route")
    run.check("without the header the request is not routed", status == 200)

    # Variables in the access log.
    access = open(os.path.join(tmp, "access.log")).read()
    run.check("access log shows $keyward_routing_rule for a routed request",
              "openai test-model vk-route rule=e2e-route" in access and "rule=-" in access, access[-600:])
    run.check("access log shows $keyward_decision and the key id", "200 admit k-" in access, access[:300])
    run.check("access log shows denials", "403 deny:virtual_key_not_found" in access)

    # Reload with a rebuilt plugin, requests flowing meanwhile.
    log_path = os.path.join(tmp, "error.log")
    if args.rebuild_cmd:
        rebuilt = subprocess.run(args.rebuild_cmd, shell=True, capture_output=True, text=True)
        run.check("plugin rebuilt", rebuilt.returncode == 0, rebuilt.stderr[-1000:])
    src = os.path.join(args.plugins, "libkeyward_weighted_selector.so")
    dst = os.path.join(tmp, "plugins", "libkeyward_weighted_selector.so")
    shutil.copy(src, dst + ".new")
    os.replace(dst + ".new", dst)
    reloaded, statuses = reload_under_traffic(tmp, conf, port, env)
    run.check("nginx -s reload accepted and loaded the plugins again", reloaded)
    run.check("every request during the reload answered 200",
              len(statuses) > 3 and all(s == 200 for s in statuses), f"{len(statuses)} requests: {sorted(set(statuses))}")
    status, _, body = post(port, chat("test-model"), vk="sk-bf-main")
    run.check("serving after the reload", status == 200, f"{status} {body[:200]!r}")

    # A reload with a changed configuration: shadow mode admits and reports what it would deny.
    config_path = os.path.join(tmp, "config.json")
    shadow = json.load(open(config_path))
    shadow["plugins"]["governance"]["config"] = {"shadow_mode": True}
    json.dump(shadow, open(config_path, "w"))
    loads_before = open(log_path).read().count("keyward: loaded")
    result = subprocess.run([NGINX, "-p", tmp, "-c", conf, "-s", "reload"], env=env, capture_output=True, text=True)
    run.check("reload with shadow_mode accepted", result.returncode == 0, result.stderr)
    wait_for(lambda: open(log_path).read().count("keyward: loaded") > loads_before, 15)
    time.sleep(0.5)  # the old worker hands over
    before = len(Upstream.seen)
    status, _, body = post(port, chat("openai/test-model"), vk="sk-bf-unknown")
    run.check("shadow mode admits an unknown virtual key", status == 200 and len(Upstream.seen) == before + 1,
              f"{status} {body[:200]!r}")
    access_path = os.path.join(tmp, "access.log")
    # nginx writes the access log line after the response went out: wait for it.
    run.check("$keyward_decision reports would_deny in shadow mode",
              wait_for(lambda: "200 would_deny:virtual_key_not_found" in open(access_path).read(), 5),
              open(access_path).read()[-300:])
    run.check("shadow denial logged by the plugin through nginx's error log",
              "keyward plugin: governance shadow mode" in open(log_path).read())

    # Another build at the same path: the round-robin selector replaces the weighted one.
    rr = os.path.join(args.plugins, "libkeyward_round_robin_selector.so")
    if os.path.exists(rr):
        shutil.copy(rr, dst + ".new")
        os.replace(dst + ".new", dst)
        loads_before = open(log_path).read().count("keyward: loaded")
        result = subprocess.run([NGINX, "-p", tmp, "-c", conf, "-s", "reload"], env=env, capture_output=True, text=True)
        wait_for(lambda: open(log_path).read().count("keyward: loaded") > loads_before, 15)
        time.sleep(0.5)
        run.check("reload picked up the new .so at the same path",
                  result.returncode == 0 and open(log_path).read().split("keyward: loaded")[-1].startswith(" round-robin-selector"),
                  open(log_path).read().split("keyward: loaded")[-1][:200])
        before = len(Upstream.seen)
        for _ in range(6):
            post(port, chat("test-model"), vk="sk-bf-main")
        keys = [s["authorization"] for s in Upstream.seen[before:]]
        run.check("round-robin alternates the keys after the swap",
                  len(keys) == 6 and all(a != b for a, b in zip(keys, keys[1:])), str([k[-4:] for k in keys if k]))
    else:
        run.check("round-robin selector built", False, rr)

    if args.example_plugin:
        example_plugin(run, tmp, conf, port, env, args.example_plugin)


def request(port, method, path, headers, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    for name, value in headers.items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def cors(run, port):
    """client.allowed_origins, answered by the module as keyward-host answers it."""
    app = "https://app.example.com"
    preflight = {"Origin": app, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, x-bf-vk"}
    status, headers, _ = request(port, "OPTIONS", "/v1/chat/completions", preflight)
    run.check("CORS: an allowed origin's preflight is answered 200 with the headers",
              status == 200 and headers.get("access-control-allow-origin") == app
              and "POST" in headers.get("access-control-allow-methods", "")
              and headers.get("access-control-allow-credentials") == "true", f"{status} {headers}")
    status, headers, body = request(port, "OPTIONS", "/v1/chat/completions",
                                    dict(preflight, Origin="https://evil.example.com"))
    run.check("CORS: another origin's preflight is a 403 envelope without the headers",
              status == 403 and b"origin_not_allowed" in body
              and "access-control-allow-origin" not in headers, f"{status} {headers} {body[:200]!r}")
    data = json.dumps(chat("test-model")).encode()
    status, headers, _ = request(port, "POST", "/v1/chat/completions",
                                 {"Origin": app, "Content-Type": "application/json", "x-bf-vk": "sk-bf-main"}, data)
    run.check("CORS: a proxied answer carries the headers for an allowed origin",
              status == 200 and headers.get("access-control-allow-origin") == app, f"{status} {headers}")
    status, headers, _ = request(port, "POST", "/v1/chat/completions",
                                 {"Origin": app, "Content-Type": "application/json"}, data)
    run.check("CORS: a denial carries them too", status == 401
              and headers.get("access-control-allow-origin") == app, f"{status} {headers}")
    status, headers, _ = request(port, "POST", "/v1/chat/completions",
                                 {"Origin": "https://evil.example.com", "Content-Type": "application/json",
                                  "x-bf-vk": "sk-bf-main"}, data)
    run.check("CORS: another origin is served without the headers",
              status == 200 and "access-control-allow-origin" not in headers, f"{status} {headers}")


def default_plugins(run, tmp, port, env, args):
    """A config.json with no plugins block: the module loads the default plugins installed
    beside its own .so (checked with `nginx -t`), and names the missing file when there are none."""
    for installed in (True, False):
        where = os.path.join(tmp, "installed" if installed else "bare")
        os.makedirs(where, exist_ok=True)
        module = os.path.join(where, os.path.basename(args.module))
        shutil.copy(args.module, module)
        if installed:
            for name in ("libkeyward_weighted_selector.so", "libkeyward_governance.so"):
                shutil.copy(os.path.join(tmp, "plugins", name), where)
        document = json.load(open(os.path.join(tmp, "config.json")))
        del document["plugins"]
        with open(os.path.join(where, "config.json"), "w") as f:
            json.dump(document, f)
        text = nginx_conf(tmp, module, port).replace(f"keyward_config {tmp}/config.json", f"keyward_config {where}/config.json")
        other = os.path.join(where, "nginx.conf")
        with open(other, "w") as f:
            f.write(text)
        log_path = os.path.join(tmp, "error.log")
        log_before = open(log_path).read() if os.path.exists(log_path) else ""
        result = subprocess.run([NGINX, "-t", "-p", tmp, "-c", other], env=env, capture_output=True, text=True)
        log = open(log_path).read()[len(log_before):] if os.path.exists(log_path) else ""
        said = result.stderr + log
        selector = os.path.join(where, "libkeyward_weighted_selector.so")
        if installed:
            run.check("no plugins block: nginx -t loads the default plugins beside the module",
                      result.returncode == 0 and selector in said
                      and os.path.join(where, "libkeyward_governance.so") in said, said[-600:])
        else:
            run.check("no plugins block and none installed: nginx -t names the missing default plugin",
                      result.returncode != 0 and selector in said, said[-600:])


def reload_under_traffic(tmp, conf, port, env):
    """`nginx -s reload` while a client posts; (reload accepted, new load logged, statuses)."""
    log_path = os.path.join(tmp, "error.log")
    loads_before = open(log_path).read().count("keyward: loaded")
    statuses = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            statuses.append(post(port, chat("test-model"), vk="sk-bf-reload")[0])

    thread = threading.Thread(target=traffic)
    thread.start()
    time.sleep(0.3)
    result = subprocess.run([NGINX, "-p", tmp, "-c", conf, "-s", "reload"], env=env, capture_output=True, text=True)
    loaded = wait_for(lambda: open(log_path).read().count("keyward: loaded") > loads_before, 15)
    time.sleep(1.0)
    stop.set()
    thread.join()
    return result.returncode == 0 and loaded, statuses


def example_plugin(run, tmp, conf, port, env, built):
    """The out-of-tree example selector: switched to at a new path, then replaced in place."""
    log_path = os.path.join(tmp, "error.log")
    example = os.path.join(tmp, "plugins", "priority", "libpriority_selector.so")
    os.makedirs(os.path.dirname(example), exist_ok=True)
    shutil.copy(built, example)
    config_path = os.path.join(tmp, "config.json")
    changed = json.load(open(config_path))
    changed["plugins"]["key_selection"]["path"] = example
    json.dump(changed, open(config_path + ".new", "w"))
    os.replace(config_path + ".new", config_path)
    ok, statuses = reload_under_traffic(tmp, conf, port, env)
    last = open(log_path).read().split("keyward: loaded")[-1]
    run.check("reload naming the example selector's path", ok and last.startswith(" priority-selector") and example in last,
              last[:300])
    run.check("every request while switching to the example answered 200",
              len(statuses) > 3 and all(s == 200 for s in statuses), f"{len(statuses)}: {sorted(set(statuses))}")
    before = len(Upstream.seen)
    for _ in range(4):
        post(port, chat("test-model"), vk="sk-bf-main")
    keys = [s["authorization"] for s in Upstream.seen[before:]]
    # Equal weights: the first configured key is the primary and serves every request.
    run.check("the example selector sends every request to its primary key",
              len(keys) == 4 and all(k == f"Bearer {KEY_A}" for k in keys), str([k[-4:] for k in keys if k]))
    shutil.copy(built, example + ".new")
    os.replace(example + ".new", example)
    ok, statuses = reload_under_traffic(tmp, conf, port, env)
    run.check("the example replaced in place and reloaded", ok)
    run.check("every request while replacing the example answered 200",
              len(statuses) > 3 and all(s == 200 for s in statuses), f"{len(statuses)}: {sorted(set(statuses))}")


if __name__ == "__main__":
    sys.exit(main())
