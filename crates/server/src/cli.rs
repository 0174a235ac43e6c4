//! `ostiary user …`: create, show, update and list users and the claims they carry. The commands
//! write through the same store the server uses.

use anyhow::anyhow;
use clap::Subcommand;
use domain::{EmailAddress, PhoneNumber, UserId};
use store::Store;
use store::users::{User, UserUpdate};

use crate::config::Settings;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user with a (verified) email address.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one user, by email address or subject (`sub`).
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a user's claims (OIDC Core §5.1), by email address or subject.
    Update {
        user: String,
        /// A profile claim, KEY=VALUE: name, given_name, family_name, middle_name, nickname,
        /// preferred_username, profile, picture, website, gender, birthdate, zoneinfo, locale,
        /// address.formatted, address.street_address, address.locality, address.region,
        /// address.postal_code, address.country.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a profile claim.
        #[arg(long = "unset", value_name = "KEY")]
        unset: Vec<String>,
        /// The phone number, with its country code (+44…); an empty value removes it.
        #[arg(long)]
        phone: Option<String>,
        /// Whether the phone number counts as verified (`phone_number_verified`).
        #[arg(long)]
        phone_verified: Option<bool>,
        #[arg(long)]
        json: bool,
    },
    /// List users (the first 1000).
    List {
        #[arg(long)]
        json: bool,
    },
}

/// A user as the CLI prints it with `--json`: the claims the scopes can release, plus `created_at`.
fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({
        "sub": u.id.to_string(),
        "email": u.email.as_ref().map(EmailAddress::as_str),
        "email_verified": u.email_verified,
        "phone_number": u.phone.as_ref().map(PhoneNumber::as_str),
        "phone_number_verified": u.phone_verified,
        "profile": u.profile,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

fn print_user(u: &User, json: bool) {
    if json {
        println!("{}", user_json(u));
        return;
    }
    let email = u.email.as_ref().map(|e| format!("{e}{}", if u.email_verified { "" } else { " (unverified)" }));
    let phone = u.phone.as_ref().map(|p| format!("{p}{}", if u.phone_verified { "" } else { " (unverified)" }));
    println!("{}", u.id);
    println!("  email:   {}", email.as_deref().unwrap_or("-"));
    println!("  phone:   {}", phone.as_deref().unwrap_or("-"));
    if let Ok(serde_json::Value::Object(claims)) = serde_json::to_value(&u.profile) {
        for (k, v) in claims {
            println!("  {k}: {v}");
        }
    }
}

/// Finds a user by email address (anything with an `@`) or by subject.
async fn find(store: &Store, who: &str) -> anyhow::Result<User> {
    let found = if who.contains('@') {
        let email = EmailAddress::parse(who).map_err(|e| anyhow!("{who:?}: {e}"))?;
        store.user_by_email(&email).await
    } else {
        let id = UserId::parse(who).ok_or_else(|| anyhow!("{who:?} is neither an email address nor a user id"))?;
        store.user(&id).await
    };
    found.map_err(|e| anyhow!("{e}"))?.ok_or_else(|| anyhow!("no user {who}; `ostiary user list` shows them"))
}

pub async fn user(command: UserCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let store = crate::open_store(settings)?;
    match command {
        UserCommand::Create { email, json } => {
            let email = EmailAddress::parse(&email).map_err(|e| anyhow!("--email: {e}"))?;
            let user = store.create_user(&email, now).await.map_err(|e| anyhow!("{e}"))?;
            print_user(&user, json);
        }
        UserCommand::Show { user, json } => print_user(&find(&store, &user).await?, json),
        UserCommand::Update { user, set, unset, phone, phone_verified, json } => {
            let current = find(&store, &user).await?;
            let mut profile = current.profile.clone();
            for pair in &set {
                let (key, value) =
                    pair.split_once('=').ok_or_else(|| anyhow!("--set {pair:?}: write it as KEY=VALUE"))?;
                profile.set(key.trim(), Some(value)).map_err(|e| anyhow!("--set {e}"))?;
            }
            for key in &unset {
                profile.set(key.trim(), None).map_err(|e| anyhow!("--unset {e}"))?;
            }
            let phone = phone
                .map(|p| if p.trim().is_empty() { Ok(None) } else { PhoneNumber::parse(&p, None).map(Some) })
                .transpose()
                .map_err(|e| anyhow!("--phone: {e}"))?;
            let update = UserUpdate {
                profile: (!set.is_empty() || !unset.is_empty()).then_some(profile),
                phone,
                phone_verified,
            };
            let updated = store.update_user(&current.id, update, now).await.map_err(|e| anyhow!("{e}"))?;
            print_user(&updated, json);
        }
        UserCommand::List { json } => {
            let users = store.users(1000).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::Value::Array(users.iter().map(user_json).collect()));
            } else if users.is_empty() {
                println!(
                    "No users yet. They appear at their first sign-in, or with: ostiary user create --email ADDRESS"
                );
            } else {
                for u in users {
                    let email = u.email.as_ref().map(EmailAddress::as_str).unwrap_or("-");
                    let phone = u.phone.as_ref().map(PhoneNumber::as_str).unwrap_or("-");
                    println!("{}  {email}  {phone}", u.id);
                }
            }
        }
    }
    Ok(())
}

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
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's policy (refresh tokens, sign-in methods, branding).
    Update {
        client_id: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn client(command: ClientCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    use authorization_server::Alg;
    use authorization_server::clients::{NewClient, new_client};
    let store = crate::open_store(settings)?;
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            public,
            post_logout_redirect_uris,
            id_token_alg,
            native,
            policy,
            json,
        } => {
            let alg = Alg::parse(&id_token_alg)
                .ok_or_else(|| anyhow!("--id-token-alg: {id_token_alg:?} is not RS256, ES256 or EdDSA"))?;
            let mut client_settings = domain::ClientSettings::default();
            policy.apply(&mut client_settings)?;
            let hasher = crate::master_key(settings)?.hasher();
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                id_token_alg: alg,
                native,
                settings: client_settings,
            };
            let (client, secret) = new_client(new, &hasher, now).map_err(|e| anyhow!("{e}"))?;
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
        }
        ClientCommand::List { json } => {
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
                    println!(
                        "{}  {:?}  {kind}  {}  {}",
                        c.id,
                        c.name,
                        c.id_token_alg.as_str(),
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum BlocksCommand {
    /// List the IP addresses blocked now.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Lift every block of an IP address.
    Lift { ip: String },
}

pub async fn blocks(command: BlocksCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let store = crate::open_store(settings)?;
    match command {
        BlocksCommand::List { json } => {
            let blocks = store.active_blocks(now).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                let list: Vec<_> = blocks
                    .iter()
                    .map(|b| {
                        serde_json::json!({
                            "ip": b.ip, "scope": b.scope.describe(),
                            "reason": b.reason, "created_at": b.created_at, "expires_at": b.expires_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if blocks.is_empty() {
                println!("No IP address is blocked.");
            } else {
                for b in blocks {
                    let scope = b.scope.describe();
                    let until = domain::clock::rfc3339(b.expires_at);
                    println!("{}  {scope}  until {until}  ({})", b.ip, b.reason);
                }
            }
        }
        BlocksCommand::Lift { ip } => {
            // An IPv6 address is blocked with its /64 (the key limits count under): either names it.
            let given = ip.trim().strip_suffix("/64").unwrap_or(ip.trim());
            let ip: std::net::IpAddr = given.parse().map_err(|_| anyhow!("{ip:?} is not an IP address"))?;
            let key = domain::ClientIp::new(ip).limit_key();
            let n = store.lift_blocks_of_ip(&key, now).await.map_err(|e| anyhow!("{e}"))?;
            if n == 0 {
                println!("{key} was not blocked.");
            } else {
                println!("Lifted {n} block(s) of {key}.");
            }
        }
    }
    Ok(())
}
