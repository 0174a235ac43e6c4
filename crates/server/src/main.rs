//! `ostiary`: serve, migrate, manage clients and keys.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use authorization_server::Keys;
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
        command: ostiary::cli::ClientCommand,
    },
    /// Manage users and the claims they carry.
    User {
        #[command(subcommand)]
        command: ostiary::cli::UserCommand,
    },
    /// List and lift IP blocks (set after too many wrong codes).
    Blocks {
        #[command(subcommand)]
        command: ostiary::cli::BlocksCommand,
    },
    /// Check the configured hooks.
    Hooks {
        #[command(subcommand)]
        command: ostiary::cli::HooksCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Publish new signing keys; the old ones stay in the JWKS until their tokens have expired.
    Rotate,
}

/// mimalloc rather than glibc's allocator: `malloc` and `free` were 11 % of a sign-in's CPU, and
/// mimalloc's thread-local free lists take a third of that off (docs/performance.md). Built with
/// `no_thp`: transparent huge pages under its arenas made an idle server's memory 20 MB larger.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // A client's malformed request or dropped connection is no fault of ours, yet actix logs such
    // stream errors at ERROR: anyone could fill the error log. Malformed heads are answered by the
    // listener's guard (and appear in the access log as /_refused/{status}); the rest stays quiet.
    let filter = match "actix_http::h1::dispatcher=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    // Colours only for a person at a terminal: a file or a log collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match settings.server.log_format {
        ostiary::ops::LogFormat::Text => logs.init(),
        // One JSON object per line, the request's span (with its id) included.
        ostiary::ops::LogFormat::Json => logs.json().with_current_span(true).with_span_list(false).init(),
    }
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
            let store = store::Store::connect(settings.database.url.as_str(), 1).map_err(|e| anyhow!("{e}"))?;
            let applied = store.migrate().map_err(|e| anyhow!("migration failed: {e}"))?;
            println!("{} is up to date ({applied} migration(s) applied).", store.backend().describe());
            Ok(())
        }
        Command::Client { command } => ostiary::cli::client(command, &settings, clock.now()).await,
        Command::Blocks { command } => ostiary::cli::blocks(command, &settings, clock.now()).await,
        Command::User { command } => ostiary::cli::user(command, &settings, clock.now()).await,
        Command::Hooks { command } => ostiary::cli::hooks(command, &settings, clock.now()).await,
        Command::Keys { command: KeysCommand::Rotate } => {
            let store = ostiary::open_store(&settings).await?;
            let master = ostiary::master_key(&settings)?;
            let keys = Keys::load(std::sync::Arc::new(store), master.sealer(), clock.now())
                .await
                .map_err(|e| anyhow!("{e}"))?;
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let issuer = settings.server.issuer.as_str().trim_end_matches('/').to_owned();
    let demo = settings.demo.enabled;
    let outbox = settings.delivery.uses_outbox();
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every flag or argument of every command says what it is for.
    #[test]
    fn every_command_and_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() && sub.get_name() != "help" {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "ostiary", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    /// `ostiary client --help` names everything `client update` can change (issue 16): each of its
    /// flags has its topic here, and the topic must be in the command's summary.
    #[test]
    fn client_help_lists_everything_update_changes() {
        let topics = [
            ("refresh_tokens", "refresh tokens"),
            ("login_methods", "sign-in methods"),
            ("brand_name", "branding"),
            ("brand_color", "branding"),
            ("brand_logo", "branding"),
            ("brand_css", "branding"),
            ("step_up", "step-up"),
            ("without_factor", "without a second factor"),
            ("api_login", "passwordless API"),
            ("cross_device_approval", "cross-device approval"),
            ("passkey_offer", "passkey offer"),
            ("token_exchange", "token exchange"),
            ("device_grant", "device grant"),
        ];
        let mut cli = super::Cli::command();
        let client = cli.find_subcommand_mut("client").expect("client");
        let help = client.render_help().to_string().replace('\n', " ").split_whitespace().collect::<Vec<_>>().join(" ");
        let update = client.find_subcommand("update").expect("update");
        for arg in update.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "client_id" | "help")) {
            let id = arg.get_id().as_str();
            let topic = topics.iter().find(|(flag, _)| *flag == id).map(|(_, t)| *t);
            let topic =
                topic.unwrap_or_else(|| panic!("--{id}: give it a topic here and name it in the update summary"));
            assert!(help.contains(topic), "`client --help` does not name {topic:?} (--{id}): {help}");
        }
    }
}
