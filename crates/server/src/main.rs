//! `ostiary`: serve, migrate, manage clients and keys.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use authorization_server::clients::{NewClient, new_client};
use authorization_server::{Alg, Keys};
use clap::{Parser, Subcommand};
use ostiary::config::Settings;

#[derive(Parser)]
#[command(name = "ostiary", version, about = "Ostiary: a passwordless OpenID Connect provider")]
struct Cli {
    /// Configuration file layered over the built-in defaults (see config/default.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the provider.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage relying parties.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage users and the claims they carry.
    User {
        #[command(subcommand)]
        command: ostiary::cli::UserCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client and print its id (and secret, shown only this once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A public client (native or browser app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// ID token algorithm: RS256, ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
        /// A native app: its loopback redirect URIs (http://127.0.0.1/…) match any port (RFC 8252).
        #[arg(long)]
        native: bool,
        /// When refresh tokens are issued: offline_access (when that scope is asked for), always, never.
        #[arg(long, default_value = "offline_access")]
        refresh_tokens: String,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's policy.
    Update {
        client_id: String,
        /// When refresh tokens are issued: offline_access, always, never.
        #[arg(long)]
        refresh_tokens: Option<String>,
    },
    /// List registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Publish new signing keys; the old ones stay in the JWKS until their tokens have expired.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ostiary: {e}");
            eprintln!("Fix the values above (see config/default.toml for every key) and start again.");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.server.log));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ostiary: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = actix_web::rt::System::with_tokio_rt(|| runtime).block_on(run(cli.command, settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ostiary: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let clock = ostiary::system_clock();
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = store::Store::connect(&settings.database.url, 1).map_err(|e| anyhow!("{e}"))?;
            let applied = store.migrate().map_err(|e| anyhow!("migration failed: {e}"))?;
            println!("{} is up to date ({applied} migration(s) applied).", store.backend().describe());
            Ok(())
        }
        Command::Client {
            command:
                ClientCommand::Create {
                    name,
                    redirect_uris,
                    public,
                    post_logout_redirect_uris,
                    id_token_alg,
                    native,
                    refresh_tokens,
                    json,
                },
        } => {
            let alg = Alg::parse(&id_token_alg)
                .ok_or_else(|| anyhow!("--id-token-alg: {id_token_alg:?} is not RS256, ES256 or EdDSA"))?;
            let policy = domain::ClientSettings { refresh_tokens: refresh_policy(&refresh_tokens)? };
            let store = ostiary::open_store(&settings)?;
            let hasher = ostiary::master_key(&settings)?.hasher();
            let (client, secret) = new_client(
                NewClient {
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    public,
                    id_token_alg: alg,
                    native,
                    settings: policy,
                },
                &hasher,
                clock.now(),
            )
            .map_err(|e| anyhow!("{e}"))?;
            store.insert_client(&client).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                let mut out = serde_json::json!({ "client_id": client.id.to_string() });
                if let Some(secret) = &secret {
                    out["client_secret"] = serde_json::json!(secret);
                }
                println!("{out}");
            } else {
                println!("Registered {:?}.\n  client_id:     {}", client.name, client.id);
                match secret {
                    Some(s) => println!(
                        "  client_secret: {s}\n  Store the secret now: it is kept only as a hash and cannot be shown again."
                    ),
                    None => println!("  public client: no secret; it must use PKCE (S256)."),
                }
            }
            Ok(())
        }
        Command::Client { command: ClientCommand::List { json } } => {
            let store = ostiary::open_store(&settings)?;
            let clients = store.clients().await.map_err(|e| anyhow!("{e}"))?;
            if json {
                let list: Vec<_> = clients
                    .iter()
                    .map(|c| serde_json::json!({ "client_id": c.id.to_string(), "name": c.name, "public": c.is_public, "redirect_uris": c.redirect_uris, "id_token_alg": c.id_token_alg, "application_type": c.application_type, "settings": c.settings }))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if clients.is_empty() {
                println!("No clients yet. Add one with: ostiary client create --name NAME --redirect-uri URI");
            } else {
                for c in clients {
                    let kind = if c.is_public { "public" } else { "confidential" };
                    println!("{}  {:?}  {kind}  {}  {}", c.id, c.name, c.id_token_alg, c.redirect_uris.join(" "));
                }
            }
            Ok(())
        }
        Command::Client { command: ClientCommand::Update { client_id, refresh_tokens } } => {
            let store = ostiary::open_store(&settings)?;
            let id = domain::ClientId::parse(&client_id).ok_or_else(|| anyhow!("{client_id:?} is not a client id"))?;
            let mut client = store
                .client(&id)
                .await
                .map_err(|e| anyhow!("{e}"))?
                .ok_or_else(|| anyhow!("no client has the id {client_id}; `ostiary client list` shows them"))?;
            if let Some(policy) = refresh_tokens {
                client.settings.refresh_tokens = refresh_policy(&policy)?;
            }
            store.upsert_client(&client).await.map_err(|e| anyhow!("{e}"))?;
            println!("Updated {:?}: refresh tokens {}.", client.name, client.settings.refresh_tokens.as_str());
            Ok(())
        }
        Command::User { command } => ostiary::cli::user(command, &settings, clock.now()).await,
        Command::Keys { command: KeysCommand::Rotate } => {
            let store = ostiary::open_store(&settings)?;
            let master = ostiary::master_key(&settings)?;
            let keys = Keys::load(store, master.sealer(), clock.now()).await.map_err(|e| anyhow!("{e}"))?;
            let kids = keys.rotate(clock.now()).await.map_err(|e| anyhow!("{e}"))?;
            println!("Published new signing keys: {}.", kids.join(", "));
            println!(
                "They are in the JWKS now and start signing in {} seconds; the previous keys stay published until their tokens expire.",
                authorization_server::keys::PUBLISH_AHEAD
            );
            Ok(())
        }
    }
}

fn refresh_policy(text: &str) -> anyhow::Result<domain::RefreshPolicy> {
    domain::RefreshPolicy::parse(text)
        .ok_or_else(|| anyhow!("--refresh-tokens: {text:?} is not offline_access, always or never"))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let issuer = settings.server.issuer.trim_end_matches('/').to_owned();
    let demo = settings.demo.enabled;
    let outbox = settings.delivery.email.iter().chain(&settings.delivery.sms).any(|p| p == "outbox");
    let app = ostiary::Application::build(settings.clone(), None, ostiary::system_clock()).await?;
    println!();
    println!(
        "  Ostiary is running: {issuer}  (listening on {}, data in {})",
        settings.server.bind,
        app.store.backend().describe()
    );
    if demo {
        println!("  Try it: open {issuer}/demo and press \"Sign in\".");
    }
    if outbox {
        println!("  No email leaves this machine: codes and links appear at {issuer}/dev/outbox");
    }
    println!("  Discovery: {issuer}/.well-known/openid-configuration   Stop with Ctrl-C.");
    println!();
    app.run_until_stopped().await?;
    Ok(())
}
