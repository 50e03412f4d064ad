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
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "-q", "-p", "keyward-host", "--bin", "keyward-host"])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "cargo build -p keyward-host failed");
            artifact_dir().join("keyward-host")
        })
        .clone()
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
        let mut command = Command::new(host_binary());
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
        for (name, value) in env {
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
                    if let Some(at) = line.find("listening on ") {
                        let address = line[at + "listening on ".len()..]
                            .split_whitespace()
                            .next()
                            .unwrap_or("");
                        let _ = address_tx.send(address.to_owned());
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(address) = address_rx.recv_timeout(Duration::from_millis(50)) {
                let agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
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
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            retry_after,
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
