//! `fake-provider`: the fake LLM provider as a standalone server, for the
//! benchmark and the SDK test suites. Prints `listening on http://IP:PORT`
//! once bound, then serves until SIGTERM or SIGINT.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use switchyard_testkit::{FakeConfig, FakeProvider};

/// Fake LLM provider (xAI/OpenAI-compatible chat completions and
/// embeddings, Anthropic Messages, Google Gemini) with scripted faults and
/// request recording.
#[derive(Debug, Parser)]
#[command(name = "fake-provider", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Do not keep copies of requests (counters still move).
    #[arg(long)]
    no_record: bool,
    /// Accept requests without credentials.
    #[arg(long)]
    no_auth: bool,
    /// Runtime worker threads; 1 runs everything on the main thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = if cli.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(cli.threads))
            .enable_all()
            .build()
    }
    .context("cannot build the tokio runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = FakeConfig {
        listen: cli.listen,
        require_auth: !cli.no_auth,
        record: !cli.no_record,
    };
    let fake = FakeProvider::try_start_with(config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", fake.url())?;
        stdout.flush()?;
    }
    wait_for_signal().await?;
    fake.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
}
