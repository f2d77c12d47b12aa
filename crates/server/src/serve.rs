//! `switchyard serve`: open storage, apply the config, listen, and shut down gracefully.
//!
//! On SIGTERM or SIGINT the listener stops accepting, in-flight requests and streams run on
//! for up to `shutdown_grace_secs`, then the process exits 0.

use crate::app::{router, App};
use crate::config::Config;
use crate::gateways::Gateways;
use crate::upstream::Upstream;
use anyhow::Context;
use axum::serve::ListenerExt;
use switchyard_providers::Catalog;
use tokio::net::TcpListener;

/// Builds the application from a validated config: opens the store and applies the
/// config's `[[gateways]]`.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let catalog = Catalog::with_overrides(&config.providers).context("provider catalog")?;
    let store = switchyard_store::open(&config.database)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&config.database)))?;
    for g in &config.gateways {
        store
            .put_gateway(g)
            .await
            .with_context(|| format!("storing gateway {}/{}", g.account_id, g.id))?;
    }
    let gateways = Gateways::new(store, config.auto_create_gateways);
    Ok(App::new(config, catalog, gateways, Upstream::new()))
}

/// Serves `app` on `listener` until a shutdown signal, then drains.
pub async fn run(app: App, listener: TcpListener) -> anyhow::Result<()> {
    let grace = app.config().shutdown_grace;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining in-flight requests");
        let _ = signalled_tx.send(());
    });
    let deadline = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = server => r.context("server failed")?,
        _ = deadline => tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining connections"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A database URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
