//! The `fake-provider` binary: the listening line, serving, and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[cfg(unix)]
#[tokio::test]
async fn binary_prints_its_address_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-provider"))
        .args(["--listen", "127.0.0.1:0", "--no-auth", "--no-record"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    let mut stream = TcpStream::connect(url).await.unwrap();
    stream
        .write_all(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let waited = tokio::task::spawn_blocking(move || {
        for _ in 0..500 {
            if let Some(exit) = child.try_wait().unwrap() {
                return Some(exit);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        None
    });
    let exited = waited.await.unwrap().expect("exits within 5 s of SIGTERM");
    assert!(exited.success(), "{exited:?}");
}
