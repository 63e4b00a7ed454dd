//! The `vipps-login` binary against an in-process simulator: every exit code, the JSON
//! shapes, and that bad input never reaches the network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use vipps_login_core::{Config, Issuer, Secret, VippsClient};
use vipps_login_redis::RedisStore;
use vipps_login_sim::{Fault, Policy, SimConfig, SimHandle, Simulator};

const KARI: &str = "4712345678";
const NO_ACCOUNT: &str = "4711111111";
const OLD_APP: &str = "4733333333";
const OLA: &str = "4798765432";

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
        assert_no_secrets_in(&text);
    }
}

/// No JWT, no client secret, no token field in `text`.
fn assert_no_secrets_in(text: &str) {
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
    assert!(stdout(&out).contains("--redis-url"));
    assert!(stdout(&out).contains("continued_in_browser"));
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

const WELCOME: &str = "http://127.0.0.1:9/welcome";

/// Regression: the login is `AwaitingBrowser` from its start, which the command used to
/// take for "handed over to the browser" and exit 0 at once. Without a shared store it
/// cannot see the server finish the login, so it waits for the real end: here the
/// customer never confirms, and the login expires.
#[tokio::test]
async fn continue_in_browser_without_a_shared_store_waits_until_it_expires() {
    let expiry = Duration::from_secs(2);
    let sim = sim_with(fast().expires_in(expiry), Policy::Manual).await;

    let began = std::time::Instant::now();
    let out = run(
        cli(&sim),
        &[
            "login",
            "--phone",
            KARI,
            "--redirect-uri",
            WELCOME,
            "--json",
        ],
    )
    .await;
    let took = began.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(
        took >= expiry - Duration::from_millis(300),
        "exited after {took:?}, before the login expired"
    );
    assert!(took < expiry + Duration::from_secs(5), "took {took:?}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["event"], "started", "{lines:?}");
    assert_eq!(lines[0]["flow"], "continue_in_browser");
    assert_eq!(lines[1]["event"], "notice", "{lines:?}");
    assert_eq!(lines[1]["notice"], "no_shared_store");
    assert!(
        lines[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--redis-url")),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l["event"] != "result"),
        "no success before the end: {lines:?}"
    );
    let value = json_error(&out, "expired");
    assert_eq!(value["exit_code"], 4);
    assert_no_secrets(&out);

    // The same for a human: the note at the start, the expiry at the end.
    let began = std::time::Instant::now();
    let out = run(
        cli(&sim),
        &["login", "--phone", OLA, "--redirect-uri", WELCOME],
    )
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(began.elapsed() >= expiry - Duration::from_millis(300));
    let text = stderr(&out);
    assert!(text.contains("Note: This command sees the end"), "{text}");
    assert!(text.contains("error: The login expired"), "{text}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

/// The till follows a continue-in-browser login through the Redis the web server uses:
/// the command ends (exit 0) once the server behind the redirect URI has exchanged the
/// code, and never prints the code, a token, the number or the Redis password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_in_browser_ends_when_the_server_finishes_the_login() {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};

    const PASSWORD: &str = "till-redis-pw-7";
    let redis = RedisServer::start(&["--requirepass", PASSWORD]);
    let redis_url = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let sim = sim_with(fast(), Policy::Manual).await;
    // The web server behind the redirect URI: another instance on the same Redis, with
    // the same client.
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .build()
    .unwrap();
    let store = RedisStore::connect(redis_url.as_str()).await.unwrap();
    let server = VippsClient::with_store(config, Arc::new(store)).unwrap();

    for json in [true, false] {
        let mut cmd = cli(&sim);
        cmd.args(["login", "--phone", KARI, "--redirect-uri", WELCOME]);
        if json {
            cmd.args(["--json", "--redis-url", &redis_url]);
        } else {
            cmd.env("REDIS_URL", &redis_url);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut stderr = child.stderr.take().unwrap();
        let mut printed = String::new();
        let mut login_id = None;
        if json {
            stdout.read_line(&mut printed).await.unwrap();
            let started: Value = serde_json::from_str(&printed).unwrap();
            assert_eq!(started["event"], "started", "{started}");
            assert_eq!(started["flow"], "continue_in_browser");
            login_id = Some(started["login_id"].as_str().unwrap().to_owned());
        }

        // The customer confirms; the phone's browser opens the redirect URI.
        let pending = sim
            .wait_for_pending(KARI, Duration::from_secs(5))
            .await
            .expect("the login reached the simulator");
        let redirect = sim.approve(&pending.auth_req_id).await.unwrap().unwrap();
        let param = |name: &str| {
            redirect
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        // `state` comes back from the default simulator, not from one "as documented".
        let (state, code) = (param("state"), param("code").unwrap());

        // Confirmed is not finished: the command still waits for the server.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited before the server finished the login"
        );

        let (view, _identity) = match &state {
            Some(state) => server.complete_browser(state, &code).await,
            None => server.complete_browser_code(&code, None).await,
        }
        .unwrap();
        if let Some(id) = &login_id {
            assert_eq!(view.id.as_str(), id, "the server finished this login");
        } else {
            // The server hands the result out at once: the command sees it redeemed.
            server.redeem(&view.id, "").await.unwrap();
        }

        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the command ends once the server finished the login")
            .unwrap();
        stdout.read_to_string(&mut printed).await.unwrap();
        let mut err = String::new();
        stderr.read_to_string(&mut err).await.unwrap();
        eprintln!("json {json} -> {status:?}\nstdout: {printed}\nstderr: {err}");
        assert_eq!(status.code(), Some(0), "{printed}{err}");
        if json {
            let last: Value = serde_json::from_str(printed.lines().last().unwrap()).unwrap();
            assert_eq!(last["event"], "result", "{printed}");
            assert_eq!(last["status"], "continued_in_browser");
            assert_eq!(last["login_id"].as_str(), login_id.as_deref());
            assert_eq!(last["redirect_uri"], WELCOME);
            assert!(last["binding_message"].is_string(), "{last}");
            for line in printed.lines() {
                let line: Value = serde_json::from_str(line).unwrap();
                assert_ne!(line["event"], "notice", "a shared store needs no notice");
            }
            assert!(err.is_empty(), "--json: nothing on stderr: {err}");
        } else {
            assert!(
                printed.contains("where the server finished the login"),
                "{printed}"
            );
            assert!(err.contains("redis://:***@127.0.0.1"), "{err}");
        }
        for text in [&printed, &err] {
            assert_no_secrets_in(text);
            assert!(
                !text.contains(&code),
                "the code is the server's business: {text}"
            );
            assert!(!text.contains("code="), "{text}");
            assert!(!text.contains(KARI), "full phone number printed: {text}");
            assert!(!text.contains(PASSWORD), "Redis password printed: {text}");
        }
    }
}

/// Ctrl-C while a continue-in-browser login waits cancels it in the shared store, so the
/// server behind the redirect URI can no longer finish it; exit 130.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_a_continue_in_browser_login_for_the_server_too() {
    let redis = RedisServer::start(&[]);
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let sim = sim_with(fast(), Policy::Manual).await;
    let config = Config::builder(
        Issuer::Custom(sim.issuer()),
        sim.client_id(),
        Secret::new(sim.client_secret()),
    )
    .build()
    .unwrap();
    let server = VippsClient::with_store(
        config,
        Arc::new(RedisStore::connect(redis_url.as_str()).await.unwrap()),
    )
    .unwrap();

    let child = cli(&sim)
        .args([
            "login",
            "--phone",
            KARI,
            "--redirect-uri",
            WELCOME,
            "--json",
        ])
        .args(["--redis-url", &redis_url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pending = sim
        .wait_for_pending(KARI, Duration::from_secs(5))
        .await
        .unwrap();
    let redirect = sim.approve(&pending.auth_req_id).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    assert_eq!(out.status.code(), Some(130), "{}", stdout(&out));
    let value = json_error(&out, "cancelled");
    assert_eq!(value["exit_code"], 130);
    let started = &json_lines(&out)[0];
    let id: vipps_login_core::LoginId = started["login_id"].as_str().unwrap().parse().unwrap();
    assert!(
        matches!(
            server.status(&id).await.unwrap(),
            vipps_login_core::LoginStatus::Cancelled
        ),
        "the cancel is in the shared store"
    );
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let code = param("code").unwrap();
    let finished = match param("state") {
        Some(state) => server.complete_browser(&state, &code).await,
        None => server.complete_browser_code(&code, None).await,
    };
    assert!(finished.is_err(), "a cancelled login cannot be finished");
    assert_no_secrets(&out);
}

/// A Redis that cannot be reached stops the command before anything goes to Vipps, and
/// its URL's password is never shown.
#[tokio::test]
async fn unreachable_redis_exits_7_and_masks_its_password() {
    let sim = sim_with(fast(), approve()).await;
    let url = "redis://:hunter2-redis@127.0.0.1:9";
    let args = ["login", "--phone", KARI, "--redirect-uri", WELCOME];
    let mut with_json = args.to_vec();
    with_json.extend(["--json", "--redis-url", url]);
    let out = run(cli(&sim), &with_json).await;
    assert_eq!(out.status.code(), Some(7));
    let value = json_error(&out, "store");
    assert!(
        value["message"]
            .as_str()
            .is_some_and(|m| m.contains("redis://:***@127.0.0.1:9")),
        "{value}"
    );

    let mut cmd = cli(&sim);
    cmd.env("REDIS_URL", url);
    let human = run(cmd, &args).await;
    assert_eq!(human.status.code(), Some(7));
    assert!(stderr(&human).starts_with("error: "), "{}", stderr(&human));
    for out in [&out, &human] {
        for text in [stdout(out), stderr(out)] {
            assert!(!text.contains("hunter2"), "Redis password printed: {text}");
        }
    }
    nothing_sent(&sim);

    // Not a URL at all: bad input (exit 2), and the value is not echoed either.
    let mut bad = with_json.clone();
    bad.pop();
    bad.push("redis//:hunter2-redis@nowhere");
    let out = run(cli(&sim), &bad).await;
    assert_eq!(out.status.code(), Some(2));
    json_error(&out, "invalid_input");
    assert!(!stdout(&out).contains("hunter2"), "{}", stdout(&out));
    nothing_sent(&sim);
}

/// A `redis-server` of the test's own on a free loopback port, killed when dropped.
struct RedisServer {
    port: u16,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl RedisServer {
    fn start(extra_args: &[&str]) -> RedisServer {
        let mut last = String::new();
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = std::env::temp_dir().join(format!(
                "vipps-login-cli-redis-{}-{port}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let spawned = std::process::Command::new(
                std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned()),
            )
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra_args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
            let child = spawned.unwrap_or_else(|e| {
                panic!(
                    "redis-server could not be started ({e}); this test needs a real Redis: \
                     `apt-get install -y redis-server`, or set REDIS_SERVER to its path"
                )
            });
            let mut server = RedisServer { port, child, dir };
            let began = std::time::Instant::now();
            while began.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last = format!("redis-server on port {port} exited with {status}");
                    break;
                }
                if redis_answers(port) {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(server);
        }
        panic!("could not start a redis-server: {last}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a Redis answers on `port` (`PONG`, or `NOAUTH` when it wants a password).
fn redis_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
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
