//! `ostiary hooks test NAME`: sends the hook a sample request, signed as a real one, and shows its
//! answer and how long it took, so a receiver can be checked before a user meets it.

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum HooksCommand {
    /// Send the hook a sample request and show its answer and the time it took.
    Test {
        /// The hook, as configured under [hooks.NAME]: before_user_created, after_first_factor,
        /// before_token or send_message (a sample email to sample@example.com).
        name: String,
        /// Try the hook of a label, `[hooks.clients.LABEL.NAME]`, instead of the deployment's.
        #[arg(long)]
        label: Option<String>,
    },
}

/// A sample of what the hook is sent, marked as a test.
fn sample(name: &str, now: i64) -> Option<serde_json::Value> {
    match name {
        "before_token" => Some(json!({
            "test": true,
            "grant_type": "authorization_code",
            "client": { "id": "sample-client", "name": "Sample app" },
            "user": { "sub": "sample-user", "email": "sample@example.com", "phone_number": null },
            "scope": "openid email",
            "amr": ["otp"],
            "acr": "urn:ostiary:acr:single-factor",
            "auth_time": now,
        })),
        "before_user_created" => Some(json!({
            "test": true,
            "destination": { "email": "sample@example.com" },
            "client": { "id": "sample-client", "name": "Sample app" },
            "ip": "203.0.113.9",
            "country": "FR",
        })),
        "after_first_factor" => Some(json!({
            "test": true,
            "user": { "sub": "sample-user", "email": "sample@example.com", "phone_number": null },
            "client": { "id": "sample-client", "name": "Sample app" },
            "first_factor": { "amr": ["otp"], "acr": "urn:ostiary:acr:single-factor" },
            "signals": { "first_sign_in": false, "new_device": true, "blocked_device": false, "new_ip": true,
                "new_network": true, "new_country": ["FR", "US"], "impossible_travel": null },
            "ip": "203.0.113.9",
            "country": "US",
        })),
        _ => None,
    }
}

pub async fn hooks(command: HooksCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let HooksCommand::Test { name, label } = command;
    if name == "send_message" && label.is_none() {
        return send_message(settings).await;
    }
    let hooks = match &label {
        None => settings.hooks.deployment(),
        Some(label) => settings.hooks.clients.get(label).cloned().ok_or_else(|| {
            anyhow!("hooks.clients.{label} is not configured (set hooks.clients.{label}.{name}.url and .secret)")
        })?,
    };
    let (configured, name) = match name.as_str() {
        "before_token" => (hooks.before_token, "before_token"),
        "before_user_created" => (hooks.before_user_created, "before_user_created"),
        "after_first_factor" => (hooks.after_first_factor, "after_first_factor"),
        other => {
            return Err(anyhow!(
                "no hook is called {other:?}; the hooks are: before_user_created, after_first_factor, before_token, send_message"
            ));
        }
    };
    let key = label.map_or(format!("hooks.{name}"), |l| format!("hooks.clients.{l}.{name}"));
    let Some(hook_settings) = configured else {
        return Err(anyhow!("{key} is not configured (set {key}.url and {key}.secret)"));
    };
    let url = hook_settings.url.clone();
    let hook = hooks::Hook::new(name, hook_settings).map_err(|e| anyhow!(e))?;
    let payload = sample(name, now).ok_or_else(|| anyhow!("no sample for {name}"))?;
    println!("Sending a sample {name} request to {url} …");
    let started = std::time::Instant::now();
    let result = hook.call(payload, now).await;
    let ms = started.elapsed().as_millis();
    match result {
        Ok(answer) => {
            let decision = serde_json::to_value(answer.decision).unwrap_or_default();
            println!("Answered in {ms} ms: {}", decision.as_str().unwrap_or("?"));
            if let Some(message) = answer.shown_message() {
                println!("  message: {message}");
            }
            if !answer.claims.is_empty() {
                println!("  claims: {}", serde_json::Value::Object(answer.claims.clone()));
                if let Err(e) = hooks::check_claims(&answer.claims, &serde_json::Map::new()) {
                    println!("  but these claims would be refused: {e}");
                }
            }
            Ok(())
        }
        Err(e) => {
            let mode = match hook.on_failure() {
                hooks::OnFailure::FailClosed => "fail_closed: the step would be refused",
                hooks::OnFailure::FailOpen => "fail_open: the step would go on without the hook",
            };
            Err(anyhow!("the hook failed after {ms} ms: {e} ({mode})"))
        }
    }
}

/// `send_message` is a sender, not a decision: a sample email, and whether it was taken.
async fn send_message(settings: &Settings) -> anyhow::Result<()> {
    let Some(hook_settings) = settings.hooks.send_message.clone() else {
        return Err(anyhow!(
            "hooks.send_message is not configured (set hooks.send_message.url and hooks.send_message.secret)"
        ));
    };
    let url = hook_settings.url.clone();
    // As the delivery worker sends: never following a redirect.
    let http = passwordless_connection::delivery::providers::http_client()
        .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
    let clock: std::sync::Arc<dyn domain::Clock> = std::sync::Arc::new(domain::SystemClock);
    let sender =
        passwordless_connection::delivery::hook::HookSender::new(hook_settings, domain::Channel::Email, clock, http);
    println!("Sending a sample send_message request (an email to sample@example.com) to {url} …");
    let started = std::time::Instant::now();
    let id = format!("msg_test_{}", domain::secret::random_token(9));
    let result = sender.send_sample(&id, "sample@example.com").await;
    let ms = started.elapsed().as_millis();
    match result {
        Ok(()) => {
            println!("Taken in {ms} ms.");
            Ok(())
        }
        Err(reason) => Err(anyhow!(
            "the hook did not take the message after {ms} ms: {reason} (the chain would try its next provider)"
        )),
    }
}
