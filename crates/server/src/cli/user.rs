//! `ostiary user`: find, create and edit accounts.

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
        /// The account's email address (marked verified).
        #[arg(long)]
        email: String,
        /// Give the account the admin role (the console at /admin).
        #[arg(long)]
        admin: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one user, by email address or subject (`sub`).
    Show {
        /// The user: an email address or a subject (`sub`).
        user: String,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's claims (OIDC Core §5.1), by email address or subject.
    Update {
        /// The user: an email address or a subject (`sub`).
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
        /// Give (true) or take away (false) the admin role.
        #[arg(long, value_name = "true|false")]
        admin: Option<bool>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users (the first 1000).
    List {
        /// Print the result as JSON.
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
        "is_admin": u.is_admin,
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
    if u.is_admin {
        println!("  role:    admin");
    }
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
    let store = crate::open_store(settings).await?;
    match command {
        UserCommand::Create { email, admin, json } => {
            let email = EmailAddress::parse(&email).map_err(|e| anyhow!("--email: {e}"))?;
            let mut user = store.create_user(&email, now).await.map_err(|e| anyhow!("{e}"))?;
            if admin {
                let update = UserUpdate { is_admin: Some(true), ..Default::default() };
                user = store.update_user(&user.id, update, now).await.map_err(|e| anyhow!("{e}"))?;
            }
            print_user(&user, json);
        }
        UserCommand::Show { user, json } => print_user(&find(&store, &user).await?, json),
        UserCommand::Update { user, set, unset, phone, phone_verified, admin, json } => {
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
                is_admin: admin,
                ..Default::default()
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
