//! Start-up: defaults, config validation, health, and what the logs say (and never say).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// `switchyard serve --listen 127.0.0.1:0` in a fresh working directory, `SWITCHYARD_CONFIG`
/// unset or set to `config_env`: the directory, the process and the first line it printed.
async fn serve_without_config(
    config_env: Option<&str>,
) -> (tempfile::TempDir, std::process::Child, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    match config_env {
        Some(v) => cmd.env("SWITCHYARD_CONFIG", v),
        None => cmd.env_remove("SWITCHYARD_CONFIG"),
    };
    let mut child = cmd
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut l = String::new();
        std::io::BufReader::new(stdout).read_line(&mut l).unwrap();
        l
    })
    .await
    .unwrap();
    (dir, child, line)
}

#[tokio::test]
async fn with_no_config_it_keeps_state_in_switchyard_db_in_the_working_directory() {
    let (dir, mut child, line) = serve_without_config(None).await;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let a = send(http::Method::GET, &format!("{url}/healthz"), &[], "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json(), serde_json::json!({"status": "ok"}));
    assert!(dir.path().join("switchyard.db").exists());
    // It holds every request and answer: readable by its owner only, with its WAL.
    #[cfg(unix)]
    for name in ["switchyard.db", "switchyard.db-wal"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn an_empty_switchyard_config_counts_as_unset() {
    let (dir, mut child, line) = serve_without_config(Some("")).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("listening on http://"), "{line:?}");
    assert!(dir.path().join("switchyard.db").exists());
}

#[tokio::test]
async fn a_signal_while_storage_opens_ends_start_up_cleanly() {
    // A database that accepts connections and never answers: start-up waits on it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("slow.toml");
    std::fs::write(
        &cfg,
        format!("database = \"postgres://postgres@127.0.0.1:{port}/x\"\n"),
    )
    .unwrap();
    for signal in ["-TERM", "-INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "{signal}: still starting"
        );
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{signal}: no exit after the signal"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(status.code(), Some(0), "{signal}: {status:?}");
    }
    held.abort();
}

#[test]
fn config_wins_over_switchyard_config() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "listen = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["token", "list", "--account", "a", "--config"])
        .arg(&good)
        .env("SWITCHYARD_CONFIG", dir.path().join("missing.toml"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without --config, the variable is read (and here names no file).
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["token", "list", "--account", "a"])
        .env("SWITCHYARD_CONFIG", dir.path().join("missing.toml"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn the_default_listen_address_is_loopback_8080() {
    let c = switchyard::config::Config::default();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database, "sqlite://switchyard.db");
}

fn start_with_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SWITCHYARD_CONFIG", &cfg)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A gateway that starts serving counts as started (and is stopped) after 15 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.is_none_or(|s| s.success()), err)
}

#[test]
fn a_bad_config_stops_start_up_naming_the_key_and_line() {
    let (ok, err) = start_with_config("auto_create_gateways = true\ncache_everything = 1\n");
    assert!(!ok);
    assert!(
        err.contains("cache_everything") && err.contains("line 2"),
        "{err}"
    );

    let (ok, err) = start_with_config(
        "[[gateways]]\naccount_id = \"a\"\nid = \"g\"\nrate_limiting_interval = \"soon\"\n",
    );
    assert!(!ok);
    assert!(
        err.contains("rate_limiting_interval") && err.contains("line 4"),
        "{err}"
    );

    // Found after parsing, still named by the key's own line.
    let (ok, err) = start_with_config("[providers.grok]\nbase_url = \"not a url\"\n");
    assert!(!ok);
    assert!(err.contains("grok") && err.contains("line 2"), "{err}");
}

/// A Redis that answers but refuses the URL's credentials or database number is a mistake
/// in the config (no wait mends it): start-up stops naming `redis`, rather than serving with
/// rate limits off.
#[test]
fn a_redis_that_refuses_the_urls_credentials_stops_start_up() {
    let url = std::env::var("SWITCHYARD_TEST_REDIS").expect("SWITCHYARD_TEST_REDIS");
    let hostport = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    for bad in [
        format!("redis://nobody:wrong-password@{hostport}"),
        format!("redis://{hostport}/999"),
    ] {
        let (ok, err) = start_with_config(&format!("redis = \"{bad}\"\n"));
        assert!(!ok, "{bad}: started");
        assert!(err.contains("redis"), "{bad}: {err}");
        assert!(
            !err.contains("wrong-password"),
            "the password was printed: {err}"
        );
    }
}

#[tokio::test]
async fn every_key_of_the_spec_example_is_accepted() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(
        &fake,
        r#"
admin_token = "change-me"
redis = "redis://127.0.0.1:6379"
auto_create_gateways = true

[[tokens]]
account_id = "acct"
value = "secret-token"

[[gateways]]
account_id = "acct"
id = "gw"
authentication = false
collect_logs = true
cache_ttl = 0
cache_invalidate_on_update = false
rate_limiting_limit = 0
rate_limiting_interval = 60
rate_limiting_technique = "fixed"
log_management = 10000
log_management_strategy = "DELETE_OLDEST"
retry_max_attempts = 3
retry_delay = 500
retry_backoff = "exponential"

[[provider_keys]]
account_id = "acct"
gateway_id = "gw"
provider = "grok"
key = "xai-stored-key"
"#,
    )
    .await;
    let a = send(http::Method::GET, &format!("{}/healthz", gw.url), &[], "").await;
    assert_eq!(a.status, 200);
    assert!(!gw.stderr().contains("xai-stored-key"));
    assert!(!gw.stderr().contains("secret-token"));
}

#[tokio::test]
async fn other_methods_on_health_metrics_and_the_dashboard_get_a_json_405() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    for path in ["/healthz", "/metrics", "/"] {
        let a = send(http::Method::POST, &format!("{}{path}", gw.url), &[], "x").await;
        assert_eq!(a.status, 405, "{path}");
        assert_eq!(a.headers.get("allow").unwrap(), "GET,HEAD", "{path}");
        let j = a.json();
        assert_eq!(j["success"], false, "{path}: {j}");
        assert_eq!(j["httpCode"], 405, "{path}: {j}");
        let head = send(http::Method::HEAD, &format!("{}{path}", gw.url), &[], "").await;
        assert_eq!(head.status, 200, "{path}");
        // A client that sends a large body before it reads still reads the 405.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // More than loopback socket buffers hold, so that an unread body would be felt.
        let body = vec![b'x'; 16 << 20];
        let mut s = tokio::net::TcpStream::connect(&gw.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body)
            .await
            .expect("the body is read, not refused");
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut answer))
            .await
            .expect("the answer comes")
            .expect("the answer is read, not reset");
        assert_eq!(
            raw_status(&String::from_utf8_lossy(&answer[..n])),
            405,
            "{path}"
        );
    }
}

#[tokio::test]
async fn one_log_line_per_request_without_credentials() {
    let fake = FakeProvider::start().await;
    let gw = Gateway::start(&fake, "").await;
    let secret = "xai-super-secret-value-123";
    let a = post(
        &format!("{}/grok/v1/chat/completions?key=also-secret", gw.base()),
        &[
            ("authorization", &format!("Bearer {secret}")),
            ("x-api-key", secret),
        ],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 200);
    let a = post(
        &format!("{}/nope/x", gw.base()),
        &[("authorization", &format!("Bearer {secret}"))],
        CHAT,
    )
    .await;
    assert_eq!(a.status, 400);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = gw.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("switchyard::request"))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("method=POST"));
    assert!(lines[0].contains("path=/v1/acct/gw/grok/v1/chat/completions"));
    assert!(lines[0].contains("provider=\"grok\""));
    assert!(lines[0].contains("status=200"));
    assert!(lines[0].contains("duration_us="));
    assert!(lines[1].contains("status=400"));
    assert!(!log.contains(secret), "a credential was logged:\n{log}");
    assert!(
        !log.contains("also-secret"),
        "the query string was logged:\n{log}"
    );
}

#[test]
fn a_bad_log_filter_is_reported_and_a_bad_log_format_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    // The filter is checked before the config is read, so a missing config ends the run
    // right after the warning.
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&missing)
        .env("SWITCHYARD_LOG", "info,hyper=loudest")
        .env_remove("SWITCHYARD_LOG_FORMAT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SWITCHYARD_LOG") && stderr.contains("loudest"),
        "{stderr}"
    );

    // With a missing config too, so that a gateway that let the format pass would still exit
    // (and fail the assertion) rather than serve.
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["serve", "--config"])
        .arg(&missing)
        .env("SWITCHYARD_LOG_FORMAT", "jsno")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SWITCHYARD_LOG_FORMAT") && stderr.contains("jsno"),
        "{stderr}"
    );
}

/// A secret key that does not open the stored provider keys (a key file made anew, another
/// replica's key) is said at start, instead of only by every request that needs one.
#[tokio::test]
async fn a_secret_key_that_opens_no_stored_key_is_reported_at_start() {
    let fake = FakeProvider::start().await;
    let mut gw = Gateway::start(&fake, SECRET_KEY).await;
    gw.chat(&[AUTH]).await;
    let a = cp_send(
        http::Method::POST,
        &gw.cp("/gateways/gw/provider_configs"),
        serde_json::json!({"provider_slug": "grok", "alias": "main", "secret": "xai-stored"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let database = gw.stop_keeping_store().await;
    let wrong = Gateway::start(&fake, &format!("{database}{OTHER_SECRET_KEY}")).await;
    let said = |g: &Gateway| {
        g.stderr()
            .contains("does not open the newest stored provider key")
    };
    // Log lines reach stderr through the logging thread, a moment after the listener is up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !said(&wrong) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(said(&wrong), "{}", wrong.stderr());
    // The key it was stored with says nothing.
    let right = Gateway::start(&fake, &format!("{database}{SECRET_KEY}")).await;
    assert!(!said(&right), "{}", right.stderr());
}
