//! The `switchyard` command: `switchyard serve [--config PATH] [--listen ADDR]`.
//!
//! Once listening, it prints one line to stdout, `listening on http://ADDR`, so scripts and
//! tests that ask for port 0 learn the port; logs go to stderr.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use switchyard::config::Config;
use tracing_subscriber::EnvFilter;

// mimalloc: fewer cycles per allocation than glibc's malloc on the request path, and it hands
// freed memory back to the system instead of keeping the high-water mark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "switchyard", version, about = "A self-hosted AI gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway.
    Serve {
        /// TOML config file (SPEC section 6) [env: SWITCHYARD_CONFIG, unless empty].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on, overriding the config's `listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Manage gateway tokens (values accepted in `cf-aig-authorization`), stored hashed in the
    /// configured database.
    Token {
        /// TOML config file (its `database` is used) [env: SWITCHYARD_CONFIG, unless empty].
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token; it is printed once and cannot be shown again.
    Create {
        #[arg(long)]
        account: String,
        /// A name or description to recognise it by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List an account's tokens (previews only).
    List {
        #[arg(long)]
        account: String,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        account: String,
        id: String,
    },
}

/// `SWITCHYARD_CONFIG`, when `--config` is not given; set but empty counts as unset (the
/// usual way to switch a variable off in a container or a service file).
fn config_from_env() -> Option<PathBuf> {
    std::env::var_os("SWITCHYARD_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

async fn tokens(config: Config, action: TokenAction) -> anyhow::Result<()> {
    use switchyard_core::AccountId;
    let store = switchyard_store::open(&config.database)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                switchyard::serve::redact_url(&config.database)
            )
        })?;
    let account = |a: &str| AccountId::parse(a).map_err(|e| anyhow::anyhow!("--account: {e}"));
    let mut out = std::io::stdout().lock();
    match action {
        TokenAction::Create { account: a, name } => {
            let (row, token) = store.create_token(&account(&a)?, name).await?;
            writeln!(out, "{token}")?;
            eprintln!(
                "created token {} for account {} (shown once; store it now)",
                row.id, row.account_id
            );
        }
        TokenAction::List { account: a } => {
            for t in store.list_tokens(&account(&a)?).await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    t.id,
                    t.preview,
                    t.created_at,
                    t.name.unwrap_or_default()
                )?;
            }
        }
        TokenAction::Revoke { account: a, id } => {
            match store.revoke_token(&account(&a)?, &id).await? {
                Some(t) => writeln!(out, "revoked {} ({})", t.id, t.preview)?,
                None => anyhow::bail!("no token {id} in account {a}"),
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    switchyard::memory::no_huge_pages();
    let cli = Cli::parse();
    // Buffered: the appender's thread flushes whenever its queue runs empty, so a burst of
    // lines costs one write instead of one per line.
    let (writer, _guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        64 * 1024,
        std::io::stderr(),
    ));
    // A SWITCHYARD_LOG that does not parse is reported once logging is up, then the default
    // filter applies (a typo should not silence the gateway, nor stop it).
    let default_filter = || EnvFilter::new("info,sqlx=warn,hyper=warn");
    // An empty value is the same as none (not a filter that lets nothing through).
    let set = |name| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    let (filter, bad_filter) = match set("SWITCHYARD_LOG").ok_or(()) {
        Err(_) => (default_filter(), None),
        Ok(v) => match EnvFilter::try_new(&v) {
            Ok(f) => (f, None),
            Err(e) => (default_filter(), Some(format!("{v:?}: {e}"))),
        },
    };
    let json = match set("SWITCHYARD_LOG_FORMAT").ok_or(()) {
        Err(_) => false,
        Ok(v) if v == "json" => true,
        Ok(v) if v == "text" => false,
        Ok(v) => anyhow::bail!("SWITCHYARD_LOG_FORMAT must be \"json\" or \"text\", not {v:?}"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    if let Some(bad) = bad_filter {
        tracing::warn!("SWITCHYARD_LOG {bad}; using the default filter");
    }

    match cli.command {
        Command::Token { config, action } => {
            let config = match config.or_else(config_from_env) {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(tokens(config, action))
        }
        Command::Serve { config, listen } => {
            let mut config = match config.or_else(config_from_env) {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            if let Some(addr) = listen {
                config.listen = addr;
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                // A worker with nothing left to do hands freed memory back (rate-limited).
                .on_thread_park(switchyard::memory::maybe_trim)
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async move {
                let addr = config.listen;
                // Signals are watched from the start: one that comes while storage opens
                // ends start-up there, as cleanly as a shutdown (exit 0).
                let signal = switchyard::serve::shutdown_signal();
                tokio::pin!(signal);
                let built = tokio::select! {
                    built = switchyard::serve::build(config) => built?,
                    () = &mut signal => {
                        tracing::info!("shutdown signal received during start-up");
                        return Ok(());
                    }
                };
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?;
                let local = listener.local_addr().context("reading the bound address")?;
                {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "listening on http://{local}")?;
                    out.flush()?;
                }
                tracing::info!(addr = %local, "listening");
                switchyard::serve::run(built, listener, signal).await
            })
        }
    }
}
