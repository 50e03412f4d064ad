//! The official OpenAI Python SDK against the gateway: every route works through the SDK, and
//! every denial raises the SDK's usual typed error (`AuthenticationError` 401,
//! `PermissionDeniedError` 403, `RateLimitError` 429, `APIStatusError` 402, `NotFoundError` 404,
//! `BadRequestError` 400). `scripts/test` installs the SDK (`pip install openai`); without it this
//! test fails and says so.

mod support;

use std::process::Command;

use support::host::{Host, MockUpstream, proxy_config};

#[test]
fn the_official_openai_python_sdk_works_and_raises_its_typed_errors() {
    let probe = Command::new("python3")
        .args(["-c", "import openai"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "the OpenAI Python SDK is not installed: run `python3 -m pip install openai` (scripts/test does)"
    );
    let mock = MockUpstream::start();
    let host = Host::start("openai-sdk", &proxy_config(&mock));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_python.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(format!("{}/v1", host.base))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}\nhost logs:\n{}",
        host.logs()
    );
    assert!(stdout.contains("all OpenAI SDK checks passed"), "{stdout}");
}
