//! Runs the real `keyward-host` binary with the real plugin `.so` files on a loopback port, for
//! end-to-end tests: start, talk HTTP, stop gracefully or `kill -9`, restart on the same data
//! directory.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{artifact_dir, plugin_path};

/// The admin token every test host is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// The `keyward-host` binary, built (once per test process) by the same cargo that runs the
/// tests, so it is never stale.
pub fn host_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build_host_package_binary("keyward-host"))
        .clone()
}

/// The `keyward-mock-upstream` binary, built like [`host_binary`].
pub fn mock_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build_host_package_binary("keyward-mock-upstream"))
        .clone()
}

fn build_host_package_binary(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "keyward-host", "--bin", name])
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "cargo build -p keyward-host --bin {name} failed"
    );
    artifact_dir().join(name)
}

/// A running `keyward-mock-upstream` on a loopback port.
pub struct MockUpstream {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl MockUpstream {
    /// Starts one on a free port.
    pub fn start() -> MockUpstream {
        let mut child = Command::new(mock_binary())
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keyward-mock-upstream");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let line = lines
            .next()
            .expect("the mock prints its address")
            .expect("readable");
        let address = line.rsplit(' ').next().expect("an address").to_owned();
        std::thread::spawn(move || for _ in lines {});
        MockUpstream {
            child,
            base: format!("http://{address}"),
        }
    }

    /// What it received so far: `[{path, deployment, model, credential, stream, include_usage}]`.
    pub fn received(&self) -> Vec<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let text = agent
            .get(format!("{}/mock/requests", self.base))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str::<Value>(&text)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets what it received.
    pub fn clear(&self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .delete(format!("{}/mock/requests", self.base))
            .call()
            .unwrap();
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `plugins` block naming the default plugins as built for the tests.
pub fn default_plugins() -> Value {
    serde_json::json!({
        "key_selection": {"path": plugin_path("keyward-weighted-selector")},
        "governance": {"path": plugin_path("keyward-governance")}
    })
}

/// A fresh directory under the target directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = artifact_dir()
        .join("e2e")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running host.
pub struct Host {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Holds `config.json` and `data/`.
    pub dir: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

/// How [`Host::launch`] starts a host.
#[derive(Default)]
pub struct Launch<'a> {
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// Extra command-line arguments.
    pub args: &'a [&'a str],
    /// The open-file limit to start it with.
    pub nofile: Option<u64>,
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, parsed.
    pub body: Value,
    /// The raw body.
    pub text: String,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// Every response header, names lower-case.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The value of header `name` (lower-case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Host {
    /// Writes `config` to a fresh directory and starts a host on it.
    pub fn start(name: &str, config: &Value) -> Host {
        let dir = scratch_dir(name);
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
        Host::start_in(dir).expect("the host starts")
    }

    /// Starts a host on `dir/config.json` with data in `dir/data`; `Err` carries its logs when
    /// it exits before listening.
    pub fn start_in(dir: PathBuf) -> Result<Host, String> {
        Self::start_with_env(dir, &[])
    }

    /// [`start_in`](Self::start_in) with extra environment variables.
    pub fn start_with_env(dir: PathBuf, env: &[(&str, &str)]) -> Result<Host, String> {
        Self::launch(
            dir,
            &Launch {
                env,
                ..Launch::default()
            },
        )
    }

    /// [`start_in`](Self::start_in) with extra environment variables, extra command-line
    /// arguments and, when `nofile` is given, the process's open-file limit (`RLIMIT_NOFILE`,
    /// soft and hard) lowered to it (through `bash -c 'ulimit -n N; exec …'`, so the child's
    /// process id stays the host's).
    pub fn launch(dir: PathBuf, launch: &Launch<'_>) -> Result<Host, String> {
        let mut command = match launch.nofile {
            Some(limit) => {
                let mut command = Command::new("bash");
                command
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(host_binary());
                command
            }
            None => Command::new(host_binary()),
        };
        command.args(launch.args);
        command
            .arg("--config")
            .arg(dir.join("config.json"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("KEYWARD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("KEYWARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in launch.env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("spawn keyward-host: {e}"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    // The line is kept before the address is announced, so a test that reads
                    // the logs right after the start sees the listening line.
                    let address = line.find("listening on ").map(|at| {
                        line[at + "listening on ".len()..]
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    });
                    logs.lock().unwrap().push(line);
                    if let Some(address) = address {
                        let _ = address_tx.send(address);
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(address) = address_rx.recv_timeout(Duration::from_millis(50)) {
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    // Answers are checked as the host sends them, redirects included.
                    .max_redirects(0)
                    .timeout_global(Some(Duration::from_secs(20)))
                    .build()
                    .into();
                return Ok(Host {
                    child: Some(child),
                    base: format!("http://{address}"),
                    dir,
                    logs,
                    agent,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "keyward-host exited with {status}:\n{}",
                    logs.lock().unwrap().join("\n")
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "keyward-host did not listen within 30s:\n{}",
                    logs.lock().unwrap().join("\n")
                ));
            }
        }
    }

    /// Everything the host logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Sends a request with the admin token.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.request(
            method,
            path,
            body,
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        )
    }

    /// Sends a request with the given headers.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let raw = body.map(Value::to_string);
        self.raw(method, path, raw.as_deref(), headers)
    }

    /// Sends a request with a raw body.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let request = ureq::http::Request::builder().method(method).uri(&url);
        let request = headers
            .iter()
            .fold(request, |r, (name, value)| r.header(*name, *value));
        let request = match body {
            Some(_) => request.header("content-type", "application/json"),
            None => request,
        };
        let result = match body {
            Some(body) => self.agent.run(request.body(body.to_owned()).unwrap()),
            None => self.agent.run(request.body(()).unwrap()),
        };
        let mut response =
            result.unwrap_or_else(|e| panic!("{method} {path}: {e}\nlogs:\n{}", self.logs()));
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            retry_after,
            headers,
        }
    }

    /// The address the host listens on (`127.0.0.1:PORT`).
    pub fn address(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// Writes `request` (raw bytes, which may be malformed) on a fresh connection and reads the
    /// one answer (within 10 s), by its `content-length` or to the end of the connection.
    pub fn raw_exchange(&self, request: &[u8]) -> Reply {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.address()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("write timeout");
        // The host may answer (and close) before it has read everything: a failed write is not
        // the test's concern, the answer is.
        let _ = stream.write_all(request);
        let mut received = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let head_end = loop {
            if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => panic!(
                    "no complete answer head: {:?}\nlogs:\n{}",
                    String::from_utf8_lossy(&received),
                    self.logs()
                ),
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse::<usize>().ok());
        let mut body = received[head_end..].to_vec();
        while length.is_none_or(|length| body.len() < length) {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            retry_after: headers
                .iter()
                .find(|(name, _)| name == "retry-after")
                .map(|(_, value)| value.clone()),
            headers,
        }
    }

    /// Stops the host with SIGTERM and waits for it (it saves usage on the way out).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the host with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the host and starts a new one on the same directory.
    pub fn restart(mut self) -> Host {
        self.stop();
        Host::start_in(self.dir.clone()).expect("the host restarts")
    }

    /// Sends a signal (`HUP`, …) to the host.
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status();
        }
    }

    /// The config file path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A configuration with two providers, a customer, a team and three virtual keys.
pub fn test_config() -> Value {
    serde_json::json!({
        "$schema": "https://www.getbifrost.ai/schema",
        // Written in Bifrost v1.4's shape (team `budget_id`, embedded budgets, a virtual key
        // without provider configs): version 1, where an empty allow-list allows all.
        "version": 1,
        "providers": {
            "openai": {
                "keys": [
                    {"id": "oa-1", "name": "openai-primary", "value": "sk-openai-primary-0123456789", "models": ["*"], "weight": 3},
                    {"id": "oa-2", "name": "openai-secondary", "value": "sk-openai-secondary-0123456789", "models": ["gpt-4o-mini"], "weight": 1}
                ],
                "network_config": {"base_url": "http://127.0.0.1:9"}
            },
            "azure": {
                "keys": [
                    {"id": "az-1", "name": "azure-east", "value": "azure-secret-0123456789",
                     "azure_key_config": {"endpoint": "https://east.example.invalid", "deployments": {"gpt-4o": "gpt4o-east"}}}
                ]
            }
        },
        "governance": {
            "budgets": [{"id": "b-team", "max_limit": 50.0, "reset_duration": "1M"}],
            "rate_limits": [{"id": "rl-1", "request_max_limit": 100, "request_reset_duration": "1m"}],
            "customers": [{"id": "cust-1", "name": "Acme"}],
            "teams": [{"id": "team-1", "name": "Platform", "customer_id": "cust-1", "budget_id": "b-team"}],
            "virtual_keys": [
                {"id": "vk-alpha", "name": "Alpha", "value": "sk-bf-alpha-0123456789abcdef", "team_id": "team-1",
                 "rate_limit_id": "rl-1",
                 "provider_configs": [{"provider": "openai", "weight": 1, "allowed_models": ["gpt-4o-mini"], "key_ids": ["oa-2"]}]},
                {"id": "vk-beta", "name": "beta", "value": "sk-bf-beta-0123456789abcdef", "customer_id": "cust-1",
                 "budgets": [{"id": "b-beta", "max_limit": 5.0, "reset_duration": "1d", "current_usage": 1.25}]},
                {"id": "vk-gamma", "name": "Gamma", "value": "sk-bf-gamma-0123456789abcdef", "is_active": false}
            ]
        },
        "plugins": default_plugins()
    })
}

/// Asserts `reply` is an error envelope of `status`, and returns its `error.type`.
pub fn assert_envelope(reply: &Reply, status: u16) -> String {
    assert_eq!(
        reply.status, status,
        "expected {status}, got {}: {}",
        reply.status, reply.text
    );
    let body = &reply.body;
    assert_eq!(body["status_code"], status, "status_code in {}", reply.text);
    assert!(body["event_id"].is_string(), "event_id in {}", reply.text);
    assert_eq!(
        body["error"]["event_id"], body["event_id"],
        "{}",
        reply.text
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message in {}",
        reply.text
    );
    assert!(body["is_bifrost_error"].is_boolean(), "{}", reply.text);
    assert!(body["extra_fields"].is_object(), "{}", reply.text);
    body["error"]["type"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A gateway configuration whose providers all point at `mock`: `openai` (two keys; the second
/// only serves `gpt-4o-mini`), `flaky` (a key the mock answers 429, then a good one), `azure`
/// (a deployment), `vllm` (a self-hosted URL) and `bedrock` (not implemented: 501). Prices are
/// $0.01 per completion token and nothing per prompt token, so a request with `max_tokens: 20`
/// reserves exactly what the mock charges: $0.20.
pub fn proxy_config(mock: &MockUpstream) -> Value {
    let base = &mock.base;
    serde_json::json!({
        // Bifrost v1.4's shape (virtual keys without provider configs, `budget_id`): version 1.
        "version": 1,
        "client": {"enforce_auth_on_inference": true},
        "providers": {
            "openai": {
                "keys": [
                    {"id": "oa-main", "name": "oa-main", "value": "sk-main-0123456789", "models": ["*"], "weight": 1},
                    {"id": "oa-mini", "name": "oa-mini", "value": "sk-mini-0123456789", "models": ["gpt-4o-mini"], "weight": 1}
                ],
                "network_config": {"base_url": base}
            },
            "flaky": {
                "keys": [
                    {"id": "fl-limited", "name": "fl-limited", "value": "sk-limited-0123456789", "models": ["*"], "weight": 1000},
                    {"id": "fl-good", "name": "fl-good", "value": "sk-good-0123456789", "models": ["*"], "weight": 1}
                ],
                "network_config": {"base_url": base, "max_retries": 2}
            },
            "exhausted": {
                "keys": [
                    {"id": "ex-1", "name": "ex-1", "value": "sk-limited-one-0123456789", "models": ["*"]},
                    {"id": "ex-2", "name": "ex-2", "value": "sk-limited-two-0123456789", "models": ["*"]}
                ],
                "network_config": {"base_url": base, "max_retries": 3}
            },
            "azure": {
                "keys": [{"id": "az-1", "name": "az-1", "value": "azure-secret-0123456789", "models": ["gpt-4o"],
                          "azure_key_config": {"endpoint": base, "deployments": {"gpt-4o": "gpt4o-prod"}, "api_version": "2024-06-01"}}]
            },
            "vllm": {
                "keys": [{"id": "vl-1", "name": "vl-1", "value": "", "models": ["llama-3"],
                          "vllm_key_config": {"url": base, "model_name": "llama-3"}}]
            },
            "bedrock": {
                "keys": [{"id": "br-1", "name": "br-1", "value": "", "models": ["*"],
                          "bedrock_key_config": {"region": "us-east-1", "access_key": "AKIA0123456789", "secret_key": "secret0123456789"}}]
            }
        },
        "governance": {
            "pricing": {
                "gpt-4o": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.01},
                "gpt-4o-mini": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.01},
                "llama-3": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.01},
                "text-embedding-3-small": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.01}
            },
            "budgets": [{"id": "b-small", "max_limit": 1.0, "reset_duration": "1d"}],
            "rate_limits": [{"id": "rl-three", "request_max_limit": 3, "request_reset_duration": "1h"}],
            "virtual_keys": [
                {"id": "vk-open", "name": "open", "value": "sk-bf-open-0123456789"},
                {"id": "vk-mini", "name": "mini", "value": "sk-bf-mini-0123456789",
                 "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o-mini"], "key_ids": ["oa-mini"]}]},
                {"id": "vk-budget", "name": "budget", "value": "sk-bf-budget-0123456789", "budget_id": "b-small"},
                {"id": "vk-limited", "name": "limited", "value": "sk-bf-limited-0123456789", "rate_limit_id": "rl-three"},
                {"id": "vk-off", "name": "off", "value": "sk-bf-off-0123456789", "is_active": false}
            ]
        },
        "plugins": default_plugins()
    })
}

impl Host {
    /// The current usage of budget `id`, in dollars, as `GET /api/governance/budgets` shows it.
    pub fn budget_usage(&self, id: &str) -> f64 {
        let budgets = self.admin("GET", "/api/governance/budgets", None);
        let budget = budgets.body["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == id)
            .cloned();
        let budget = budget.unwrap_or_else(|| panic!("no budget {id}: {}", budgets.text));
        budget["current_usage"].as_f64().unwrap()
    }
}
