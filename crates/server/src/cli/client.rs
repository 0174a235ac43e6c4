//! `ostiary client`: register clients, change their policy, list them.

use anyhow::anyhow;
use clap::Subcommand;

use authorization_server::Alg;
use authorization_server::clients::{NewClient, new_client};

use crate::config::Settings;

/// A client's policy, as flags shared by `client create` and `client update`. An empty value
/// removes a branding setting.
#[derive(clap::Args, Default)]
pub struct PolicyArgs {
    /// When refresh tokens are issued: offline_access (when that scope is asked for), always, never.
    #[arg(long)]
    refresh_tokens: Option<String>,
    /// Sign-in methods offered, comma-separated: email_code, email_link, sms_code.
    #[arg(long, value_delimiter = ',')]
    login_methods: Option<Vec<String>>,
    /// Product name on this client's pages and messages.
    #[arg(long)]
    brand_name: Option<String>,
    /// Colour of buttons, #rgb or #rrggbb.
    #[arg(long)]
    brand_color: Option<String>,
    /// https URL of a logo shown above the form.
    #[arg(long)]
    brand_logo: Option<String>,
    /// https URL of a stylesheet loaded after Ostiary's own.
    #[arg(long)]
    brand_css: Option<String>,
    /// When a second factor is asked for: never, risky (a new device, IP, network or country, or
    /// impossible travel), always. The client can also demand it with acr_values.
    #[arg(long)]
    step_up: Option<String>,
    /// When a second factor is called for and the user has none: allow (with a warning email),
    /// deny, or enroll (set up an authenticator app first).
    #[arg(long)]
    without_factor: Option<String>,
    /// Whether the app may sign users in through the passwordless API (POST /passwordless/start and
    /// the passwordless/otp grant) with its own screen: true or false (the default).
    #[arg(long, value_name = "true|false")]
    api_login: Option<bool>,
    /// Whether a magic link opened on another device may approve the sign-in (after the number
    /// shown in the browser that asked is typed in): true (the default) or false.
    #[arg(long, value_name = "true|false")]
    cross_device_approval: Option<bool>,
    /// Whether users who signed in with a code or link are offered a passkey before they return
    /// to the app: true (the default) or false.
    #[arg(long, value_name = "true|false")]
    passkey_offer: Option<bool>,
    /// Whether the app (a confidential service) may trade a user's access token, issued to any
    /// app, for one of its own that acts for the user (RFC 8693 token exchange): true or false (the
    /// default).
    #[arg(long, value_name = "true|false")]
    token_exchange: Option<bool>,
    /// Whether the app may sign in devices that cannot show a sign-in page (a TV, a command-line
    /// tool) with the device grant (RFC 8628): the device shows a code the user types at /device.
    /// True or false (the default).
    #[arg(long, value_name = "true|false")]
    device_grant: Option<bool>,
}

impl PolicyArgs {
    fn apply(self, settings: &mut domain::ClientSettings) -> anyhow::Result<()> {
        if let Some(text) = self.refresh_tokens {
            settings.refresh_tokens = domain::RefreshPolicy::parse(&text)
                .ok_or_else(|| anyhow!("--refresh-tokens: {text:?} is not offline_access, always or never"))?;
        }
        if let Some(methods) = self.login_methods {
            let mut parsed = Vec::new();
            for m in &methods {
                let method = domain::LoginMethod::parse(m)
                    .ok_or_else(|| anyhow!("--login-methods: {m:?} is not email_code, email_link or sms_code"))?;
                if !parsed.contains(&method) {
                    parsed.push(method);
                }
            }
            if parsed.is_empty() {
                return Err(anyhow!("--login-methods: name at least one of email_code, email_link, sms_code"));
            }
            settings.login_methods = parsed;
        }
        if let Some(text) = self.step_up {
            settings.step_up.policy = domain::StepUpPolicy::parse(&text)
                .ok_or_else(|| anyhow!("--step-up: {text:?} is not never, risky or always"))?;
        }
        if let Some(text) = self.without_factor {
            settings.step_up.without_factor = domain::WithoutFactor::parse(&text)
                .ok_or_else(|| anyhow!("--without-factor: {text:?} is not allow, deny or enroll"))?;
        }
        if let Some(on) = self.api_login {
            settings.api_login = on;
        }
        if let Some(on) = self.cross_device_approval {
            settings.cross_device_approval = on;
        }
        if let Some(on) = self.passkey_offer {
            settings.passkey_offer = on;
        }
        if let Some(on) = self.token_exchange {
            settings.token_exchange = on;
        }
        if let Some(on) = self.device_grant {
            settings.device_grant = on;
        }
        let set = |slot: &mut Option<String>, value: Option<String>| {
            if let Some(v) = value {
                *slot = (!v.trim().is_empty()).then(|| v.trim().to_owned());
            }
        };
        let b = &mut settings.branding;
        set(&mut b.product_name, self.brand_name);
        set(&mut b.primary_color, self.brand_color);
        set(&mut b.logo_url, self.brand_logo);
        set(&mut b.css_url, self.brand_css);
        b.validate().map_err(|e| anyhow!("--brand-… {e}"))
    }
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client and print its id (and secret, shown only this once).
    Create {
        /// The name users see on the sign-in pages (1 to 100 characters).
        #[arg(long)]
        name: String,
        /// Where users are sent back after signing in (required, except for an admin API client).
        #[arg(long = "redirect-uri", required_unless_present = "admin_api")]
        redirect_uris: Vec<String>,
        /// A client for the admin API (/api/admin/v1): confidential, no redirect URI needed; it
        /// gets a token with scope `admin` from the client_credentials grant.
        #[arg(long)]
        admin_api: bool,
        /// A public client (native or browser app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Where RP-initiated logout may send users back (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// ID token algorithm: RS256, ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
        /// A native app: its loopback redirect URIs (http://127.0.0.1/…) match any port (RFC 8252).
        #[arg(long)]
        native: bool,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's policy: refresh tokens, sign-in methods, branding (name, colour, logo,
    /// stylesheet), step-up, what happens without a second factor, the passwordless API,
    /// cross-device approval, the passkey offer, token exchange and the device grant.
    Update {
        /// The client's id, as `client list` shows it.
        client_id: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List registered clients.
    List {
        /// Print the clients as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn client(command: ClientCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let store = crate::open_store(settings).await?;
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            public,
            post_logout_redirect_uris,
            id_token_alg,
            native,
            admin_api,
            policy,
            json,
        } => {
            let alg = Alg::parse(&id_token_alg)
                .ok_or_else(|| anyhow!("--id-token-alg: {id_token_alg:?} is not RS256, ES256 or EdDSA"))?;
            let mut client_settings = domain::ClientSettings::default();
            policy.apply(&mut client_settings)?;
            client_settings.admin_api = admin_api;
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                id_token_alg: alg,
                native,
                settings: client_settings,
            };
            create(&store, settings, new, json, now).await
        }
        ClientCommand::Update { client_id, policy } => {
            let id = domain::ClientId::parse(&client_id).ok_or_else(|| anyhow!("{client_id:?} is not a client id"))?;
            let mut client = store
                .client(&id)
                .await
                .map_err(|e| anyhow!("{e}"))?
                .ok_or_else(|| anyhow!("no client has the id {client_id}; `ostiary client list` shows them"))?;
            policy.apply(&mut client.settings)?;
            store.upsert_client(&client).await.map_err(|e| anyhow!("{e}"))?;
            println!("Updated {:?}: {}", client.name, serde_json::json!(client.settings));
            Ok(())
        }
        ClientCommand::List { json } => list(&store, json).await,
    }
}

/// Registers a client; its secret (for a confidential one) is printed once.
async fn create(store: &store::Store, settings: &Settings, new: NewClient, json: bool, now: i64) -> anyhow::Result<()> {
    let hasher = crate::master_key(settings)?.hasher();
    let (client, secret) = new_client(new, &hasher, now).map_err(|e| anyhow!("{e}"))?;
    store.insert_client(&client).await.map_err(|e| anyhow!("{e}"))?;
    if json {
        let mut out = serde_json::json!({ "client_id": client.id.to_string() });
        if let Some(secret) = &secret {
            out["client_secret"] = serde_json::json!(secret);
        }
        println!("{out}");
        return Ok(());
    }
    println!("Registered {:?}.\n  client_id:     {}", client.name, client.id);
    match secret {
        Some(s) => {
            println!(
                "  client_secret: {s}\n  Store the secret now: it is kept only as a hash and cannot be shown again."
            )
        }
        None => println!("  public client: no secret; it must use PKCE (S256)."),
    }
    Ok(())
}

async fn list(store: &store::Store, json: bool) -> anyhow::Result<()> {
    let clients = store.clients().await.map_err(|e| anyhow!("{e}"))?;
    if json {
        let list: Vec<_> = clients
            .iter()
            .map(|c| {
                serde_json::json!({
                    "client_id": c.id.to_string(), "name": c.name, "public": c.is_public,
                    "redirect_uris": c.redirect_uris, "id_token_alg": c.id_token_alg,
                    "application_type": c.application_type.as_str(), "settings": c.settings,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else if clients.is_empty() {
        println!("No clients yet. Add one with: ostiary client create --name NAME --redirect-uri URI");
    } else {
        for c in clients {
            let kind = if c.is_public { "public" } else { "confidential" };
            println!("{}  {:?}  {kind}  {}  {}", c.id, c.name, c.id_token_alg.as_str(), c.redirect_uris.join(" "));
        }
    }
    Ok(())
}
