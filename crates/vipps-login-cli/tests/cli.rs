//! The `vipps-login` binary against an in-process simulator: every exit code, the JSON
//! shapes, and that bad input never reaches the network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use vipps_login_sim::{Fault, Policy, SimConfig, SimHandle, Simulator};

const KARI: &str = "4712345678";
const NO_ACCOUNT: &str = "4711111111";
const OLD_APP: &str = "4733333333";

fn fast() -> SimConfig {
    SimConfig::default()
        .interval(Duration::from_millis(100))
        .slow_down_step(Duration::from_millis(100))
}

async fn sim_with(config: SimConfig, policy: Policy) -> SimHandle {
    let sim = Simulator::start(config).await.unwrap();
    sim.set_policy(policy);
    sim
}

fn approve() -> Policy {
    Policy::AutoApprove {
        after: Duration::from_millis(150),
    }
}

/// The binary with a clean `VIPPS_*` environment, pointed at `sim`.
fn cli(sim: &SimHandle) -> Command {
    let mut cmd = bare_cli();
    cmd.env("VIPPS_ISSUER", sim.issuer().as_str())
        .env("VIPPS_CLIENT_ID", sim.client_id())
        .env("VIPPS_CLIENT_SECRET", sim.client_secret());
    cmd
}

/// The binary with no `VIPPS_*` variables at all.
fn bare_cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vipps-login"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("VIPPS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG").kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command, args: &[&str]) -> Output {
    let out = tokio::time::timeout(Duration::from_secs(15), cmd.args(args).output())
        .await
        .expect("the command did not finish within 15 s")
        .unwrap();
    eprintln!(
        "$ vipps-login {}\n-> {:?}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// stdout in `--json` mode: JSON lines, each an object with an `event`.
fn json_lines(out: &Output) -> Vec<Value> {
    let text = stdout(out);
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(!lines.is_empty(), "no JSON line: {text}");
    for line in &lines {
        assert!(line["event"].is_string(), "every line has an event: {line}");
    }
    lines
}

/// The last JSON line, the outcome: a `result` or an `error`.
fn json(out: &Output) -> Value {
    let last = json_lines(out).pop().unwrap();
    assert!(
        last["event"] == "result" || last["event"] == "error",
        "the last line is the outcome: {last}"
    );
    last
}

/// The error object: a stable `error` code and a sentence.
fn json_error(out: &Output, code: &str) -> Value {
    let value = json(out);
    assert_eq!(value["error"], code, "{value}");
    assert!(
        value["message"].as_str().is_some_and(|m| m.len() > 10),
        "{value}"
    );
    value
}

/// No JWT (base64url JSON header `eyJ…`), no secret, in anything the command printed.
fn assert_no_secrets(out: &Output) {
    for text in [stdout(out), stderr(out)] {
        assert!(
            !text.contains("eyJ"),
            "token-looking string printed: {text}"
        );
        assert!(
            !text.contains("demo-secret"),
            "client secret printed: {text}"
        );
        assert!(!text.to_lowercase().contains("access_token"), "{text}");
        assert!(!text.contains("\"id_token\""), "{text}");
    }
}

fn nothing_sent(sim: &SimHandle) {
    let stats = sim.stats();
    assert_eq!(stats.backchannel, 0, "a login was started: {stats:?}");
    assert_eq!(stats.discovery, 0, "Vipps was contacted: {stats:?}");
    assert_eq!(stats.token, 0, "{stats:?}");
}

#[tokio::test]
async fn login_json_success() {
    let sim = sim_with(fast(), approve()).await;
    let out = run(
        cli(&sim),
        &[
            "login",
            "--phone",
            "+47 123 45 678",
            "--binding-message",
            "DESK-42",
            "--scope",
            "openid name phoneNumber email address",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["event"], "started", "{lines:?}");
    assert_eq!(lines[0]["binding_message"], "DESK-42");
    assert_eq!(lines[0]["phone"], "47******78");
    assert_eq!(lines[0]["flow"], "finish_in_app");
    assert!(lines[0]["expires_in_secs"].as_u64().is_some_and(|s| s > 0));
    let value = json(&out);
    assert_eq!(value["event"], "result");
    let sub = value["sub"].as_str().unwrap();
    assert!(!sub.is_empty());
    assert_eq!(value["status"], "approved");
    assert_eq!(value["binding_message"], "DESK-42");
    assert_eq!(value["id_token_claims"]["sub"], sub);
    assert!(value["id_token_claims"].is_object());
    assert_eq!(value["userinfo"]["sub"], sub);
    assert_eq!(value["userinfo"]["name"], "Kari Nordmann");
    assert_eq!(value["userinfo"]["phone_number"], KARI);
    assert!(value["userinfo"]["email"].is_string(), "{value}");
    assert_no_secrets(&out);
    // --json: nothing for humans on stderr.
    assert!(
        !stderr(&out).contains("Ask the customer"),
        "{}",
        stderr(&out)
    );

    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].binding_message.as_deref(), Some("DESK-42"));
}

#[tokio::test]
async fn login_human_output() {
    let sim = sim_with(fast(), approve()).await;
    let out = run(cli(&sim), &["login", "--phone", KARI]).await;
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("Logged in: Kari Nordmann\n"), "{text}");
    assert!(text.contains(KARI), "{text}");
    assert!(text.contains("sub"), "{text}");
    // The generated code is shown to the operator and was sent to Vipps.
    let requests = sim.requests();
    let code = requests[0].binding_message.clone().unwrap();
    assert!(
        stderr(&out).contains(&format!("Ask the customer to confirm code {code} in Vipps")),
        "{}",
        stderr(&out)
    );
    // Default scope.
    let scopes = format!("{:?}", requests[0].scopes);
    for scope in ["openid", "name", "phoneNumber"] {
        assert!(scopes.contains(scope), "{scopes}");
    }
    assert_no_secrets(&out);
}

#[tokio::test]
async fn declined_exits_3() {
    let sim = sim_with(
        fast(),
        Policy::AutoDeny {
            after: Duration::from_millis(150),
        },
    )
    .await;
    let out = run(cli(&sim), &["login", "--phone", KARI, "--json"]).await;
    assert_eq!(out.status.code(), Some(3));
    json_error(&out, "declined");
}

#[tokio::test]
async fn expired_exits_4() {
    let sim = sim_with(fast().expires_in(Duration::from_secs(1)), Policy::Manual).await;
    let out = run(cli(&sim), &["login", "--phone", KARI]).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
}

#[tokio::test]
async fn invalid_user_and_old_app_exit_5() {
    let sim = sim_with(fast(), approve()).await;
    let out = run(cli(&sim), &["login", "--phone", NO_ACCOUNT, "--json"]).await;
    assert_eq!(out.status.code(), Some(5));
    json_error(&out, "invalid_user");

    let out = run(cli(&sim), &["login", "--phone", OLD_APP, "--json"]).await;
    assert_eq!(out.status.code(), Some(5));
    json_error(&out, "old_app");

    let out = run(cli(&sim), &["login", "--phone", OLD_APP]).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains("too old"), "{}", stderr(&out));
}

#[tokio::test]
async fn rate_limited_exits_6_without_waiting() {
    let sim = sim_with(fast().max_pending_per_user(1), Policy::Manual).await;
    // One login waits for the customer...
    let mut waiting = cli(&sim);
    let _first = waiting
        .args(["login", "--phone", KARI])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_requests(&sim, 1).await;
    // ...so the next one for the same number is refused.
    let started = std::time::Instant::now();
    let out = run(cli(&sim), &["login", "--phone", KARI, "--json"]).await;
    assert_eq!(out.status.code(), Some(6));
    let value = json_error(&out, "rate_limited");
    assert!(value["retry_after_secs"].as_u64().is_some(), "{value}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let out = run(cli(&sim), &["login", "--phone", KARI]).await;
    assert_eq!(out.status.code(), Some(6));
    assert!(stderr(&out).contains("seconds"), "{}", stderr(&out));
}

async fn wait_for_requests(sim: &SimHandle, n: usize) {
    for _ in 0..200 {
        if sim.requests().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the simulator never saw {n} login request(s)");
}

#[tokio::test]
async fn bad_input_exits_2_and_sends_nothing() {
    let sim = sim_with(fast(), approve()).await;
    for (args, code) in [
        (vec!["login", "--phone", "12"], "invalid_phone_number"),
        (
            vec!["login", "--phone", "+1 555 0100"],
            "invalid_phone_number",
        ),
        (
            vec!["login", "--phone", KARI, "--binding-message", "abc"],
            "invalid_binding_message",
        ),
        (
            vec![
                "login",
                "--phone",
                KARI,
                "--binding-message",
                "MUCH-TOO-LONG",
            ],
            "invalid_binding_message",
        ),
        (
            vec!["login", "--phone", KARI, "--scope", "openid nnin"],
            "invalid_scope",
        ),
        (
            vec!["login", "--phone", KARI, "--expiry", "30"],
            "invalid_input",
        ),
        (
            vec!["login", "--phone", KARI, "--expiry", "soon"],
            "invalid_input",
        ),
        (
            vec!["login", "--phone", KARI, "--redirect-uri", "no url"],
            "invalid_input",
        ),
        (
            vec!["user-exists", "--phone", "abc"],
            "invalid_phone_number",
        ),
    ] {
        let mut with_json = args.clone();
        with_json.push("--json");
        let out = run(cli(&sim), &with_json).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        json_error(&out, code);

        let out = run(cli(&sim), &args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stdout(&out).is_empty());
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    }
    nothing_sent(&sim);
}

#[tokio::test]
async fn usage_errors_exit_2_in_json_too() {
    let sim = sim_with(fast(), approve()).await;
    let out = run(cli(&sim), &["login", "--json"]).await;
    assert_eq!(out.status.code(), Some(2));
    let value = json_error(&out, "usage");
    assert!(
        value["message"].as_str().unwrap().contains("--phone"),
        "{value}"
    );

    let out = run(cli(&sim), &["login", "--phone", KARI, "--bogus"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());

    let out = run(cli(&sim), &["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Exit codes"));
    let out = run(cli(&sim), &["login", "--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Examples"));
    nothing_sent(&sim);
}

#[tokio::test]
async fn unconfigured_says_what_to_set() {
    let out = run(bare_cli(), &["login", "--phone", KARI]).await;
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(
        text.contains("VIPPS_CLIENT_ID") && text.contains("VIPPS_CLIENT_SECRET"),
        "{text}"
    );
    assert!(text.contains("vipps-login sim"), "{text}");

    let out = run(bare_cli(), &["user-exists", "--phone", KARI, "--json"]).await;
    assert_eq!(out.status.code(), Some(2));
    json_error(&out, "config");
}

#[tokio::test]
async fn wrong_client_secret_exits_7() {
    let sim = sim_with(fast(), approve()).await;
    let mut cmd = cli(&sim);
    cmd.env("VIPPS_CLIENT_SECRET", "not-the-secret");
    let out = run(cmd, &["login", "--phone", KARI, "--json"]).await;
    assert_eq!(out.status.code(), Some(7));
    json_error(&out, "invalid_client");
    assert!(!stdout(&out).contains("not-the-secret"));
}

#[tokio::test]
async fn id_token_that_fails_verification_exits_7() {
    let sim = sim_with(fast(), approve()).await;
    sim.inject(Fault::WrongSigningKey);
    let out = run(cli(&sim), &["login", "--phone", KARI, "--json"]).await;
    assert_eq!(out.status.code(), Some(7));
    json_error(&out, "token_verification");
    assert_no_secrets(&out);
}

#[tokio::test]
async fn unreachable_vipps_exits_7() {
    let mut cmd = bare_cli();
    cmd.env("VIPPS_CLIENT_ID", "demo-client")
        .env("VIPPS_CLIENT_SECRET", "demo-secret");
    let out = run(
        cmd,
        &[
            "login",
            "--phone",
            KARI,
            "--issuer",
            "http://127.0.0.1:9/access-management-1.0/access/",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(7));
    json_error(&out, "transport");
}

#[tokio::test]
async fn flags_override_the_environment() {
    let sim = sim_with(fast(), approve()).await;
    let mut cmd = bare_cli();
    cmd.env("VIPPS_ISSUER", "http://127.0.0.1:9/nothing-here/")
        .env("VIPPS_CLIENT_ID", "someone-else")
        .env("VIPPS_CLIENT_SECRET", sim.client_secret());
    let out = run(
        cmd,
        &[
            "user-exists",
            "--phone",
            KARI,
            "--issuer",
            sim.issuer().as_str(),
            "--client-id",
            sim.client_id(),
            "--client-auth",
            "post",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test]
async fn user_exists_answers_both_ways() {
    let sim = sim_with(fast(), Policy::Manual).await;
    let out = run(cli(&sim), &["user-exists", "--phone", KARI]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "yes\n");

    let out = run(cli(&sim), &["user-exists", "--phone", NO_ACCOUNT]).await;
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), "no\n");

    let out = run(cli(&sim), &["user-exists", "--phone", KARI, "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["exists"], true);
    let out = run(cli(&sim), &["user-exists", "--phone", NO_ACCOUNT, "--json"]).await;
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(json(&out)["exists"], false);

    assert_eq!(
        sim.stats().backchannel,
        0,
        "user-exists must not start a login"
    );
}

#[tokio::test]
async fn continue_in_browser_stops_when_the_browser_takes_over() {
    let sim = sim_with(fast(), approve()).await;
    let out = run(
        cli(&sim),
        &[
            "login",
            "--phone",
            KARI,
            "--redirect-uri",
            "http://127.0.0.1:9/welcome",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let value = json(&out);
    assert_eq!(value["status"], "awaiting_browser");
    assert_eq!(value["redirect_uri"], "http://127.0.0.1:9/welcome");
    assert_no_secrets(&out);
    assert!(
        !stdout(&out).contains("code="),
        "the code is the server's business"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_cancels_and_exits_130() {
    let sim = sim_with(fast(), Policy::Manual).await;
    let mut cmd = cli(&sim);
    let child = cmd
        .args(["login", "--phone", KARI])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_requests(&sim, 1).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("Cancelled: this login is not completed"),
        "{text}"
    );
    assert!(text.contains("cancelled with Ctrl-C"), "{text}");
    assert!(stdout(&out).is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn sim_prints_the_line_to_paste() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut child = bare_cli()
        .args(["sim", "--auto-approve-ms", "100", "--interval-ms", "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut paste = None;
    let mut seen = String::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await
    {
        seen.push_str(&line);
        seen.push('\n');
        if line.trim_start().starts_with("VIPPS_ISSUER=") {
            paste = Some(line.trim().to_owned());
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let paste = paste.unwrap_or_else(|| panic!("no line to paste in:\n{seen}"));
    assert!(seen.contains("/_sim/phone/4712345678"), "{seen}");
    assert!(
        paste.contains("VIPPS_CLIENT_ID=demo-client VIPPS_CLIENT_SECRET=demo-secret"),
        "{paste}"
    );
    assert!(paste.ends_with("login --phone 4712345678"), "{paste}");

    // Paste it, as a newcomer would, through a shell, and get logged in.
    let out = tokio::time::timeout(
        Duration::from_secs(15),
        Command::new("sh")
            .arg("-c")
            .arg(format!("{paste} --json"))
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["userinfo"]["name"], "Kari Nordmann");

    let pid = child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A till script reads the `started` line, with the code, while the customer has not
/// confirmed yet; the status lines and the result follow once they do.
#[tokio::test]
async fn json_lines_come_as_the_login_goes() {
    use tokio::io::AsyncBufReadExt as _;

    let sim = sim_with(fast(), Policy::Manual).await;
    let mut child = cli(&sim)
        .args(["login", "--phone", KARI, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let next = async |lines: &mut tokio::io::Lines<_>| -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap()
    };
    let started = next(&mut lines).await;
    assert_eq!(started["event"], "started", "{started}");
    let code = started["binding_message"].as_str().unwrap().to_owned();
    // Nothing is decided yet: the customer has not seen the push.
    let pending = sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(pending.binding_message.as_deref(), Some(code.as_str()));
    sim.approve(&pending.auth_req_id).await.unwrap();

    let mut rest = Vec::new();
    loop {
        let line = next(&mut lines).await;
        let last = line["event"] == "result" || line["event"] == "error";
        rest.push(line);
        if last {
            break;
        }
    }
    let result = rest.last().unwrap();
    assert_eq!(result["event"], "result", "{rest:?}");
    assert_eq!(result["binding_message"], code.as_str());
    for line in &rest[..rest.len() - 1] {
        assert_eq!(line["event"], "status", "{line}");
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
