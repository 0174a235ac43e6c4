//! The composition root: configuration, the services, the HTTP application, background tasks
//! and the CLI's building blocks. It holds no protocol logic: each crate mounts its own routes.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod demo;
mod http;
mod keyfile;
mod listener;
pub mod middleware;
pub mod ops;
mod outbox;
pub mod rp;
mod services;
mod tasks;
mod templates;
mod webauthn;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use anyhow::Context;
use authorization_server::Keys;
use domain::{Clock, SystemClock};
use store::Store;

use crate::config::Settings;
pub use crate::keyfile::master_key;
pub use crate::services::{Services, open_store, retention};

/// A running server and what tests need to know about it.
pub struct Application {
    pub port: u16,
    /// The metrics listener's port, when `server.metrics_bind` is set.
    pub metrics_port: Option<u16>,
    pub store: Store,
    pub keys: Arc<Keys>,
    server: Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Builds everything and binds. With `listener`, that socket is used (tests bind port 0 first,
    /// so the issuer can name the port).
    pub async fn build(
        settings: Settings,
        listener: Option<TcpListener>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(settings.server.bind)
                .with_context(|| format!("cannot listen on {} (server.bind)", settings.server.bind))?,
        };
        let port = listener.local_addr()?.port();
        let tls = http::tls_config(&settings)?;
        let services = Services::build(&settings, clock).await?;
        let server = http::serve(&services, listener, tls)?;
        let mut metrics_port = None;
        let mut tasks = Vec::new();
        if let Some(bind) = services.metrics_bind {
            let listener =
                TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind} (server.metrics_bind)"))?;
            metrics_port = Some(listener.local_addr()?.port());
            let metrics = http::serve_metrics(&services, listener)?;
            tasks.push(tokio::spawn(async move {
                if let Err(e) = metrics.await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }));
        }
        tasks.extend(services.tasks);
        Ok(Self { port, metrics_port, store: services.store, keys: services.keys, server, tasks })
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for t in self.tasks {
            t.abort();
        }
        result
    }
}

/// The default clock for `serve`.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
