//! What the admin crate writes to the audit log: who acted, from where, and what changed.

use domain::audit::Audited;
use domain::{ClientId, UserId};

use crate::storage::Contact;
use serde::Serialize;

/// Who did something in the console or the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// An admin API client, by its `client_credentials` token.
    Client { client_id: ClientId },
    /// An admin signed in to the console.
    Admin { user_id: UserId },
    /// The account's owner, on the account page.
    Owner,
}

/// What the admin crate writes to the audit log: who, from where, and the record before and after.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum AdminAudit {
    UserCreated {
        actor: Actor,
        ip: std::net::IpAddr,
        /// Why an admin vouched for the address or number (`imported` for an import).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        after: serde_json::Value,
    },
    UserUpdated {
        actor: Actor,
        ip: std::net::IpAddr,
        /// Why an admin vouched for a new address or number (`email_verified` / `phone_verified`).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        before: serde_json::Value,
        after: serde_json::Value,
    },
    UserBlocked {
        actor: Actor,
        ip: std::net::IpAddr,
        reason: Option<String>,
        sessions_ended: usize,
        grants_revoked: usize,
    },
    UserUnblocked {
        actor: Actor,
        ip: std::net::IpAddr,
        unblocked: bool,
    },
    SessionEnded {
        actor: Actor,
        ip: std::net::IpAddr,
        sid: String,
    },
    UserErased {
        actor: Actor,
        ip: std::net::IpAddr,
    },
    BlockLifted {
        actor: Actor,
        ip: std::net::IpAddr,
        block: String,
    },
    /// `linked`: true when `secondary` was linked to `primary`, false when unlinked.
    AccountsLinked {
        actor: Actor,
        ip: std::net::IpAddr,
        primary: UserId,
        secondary: UserId,
        linked: bool,
    },
    UsersExported {
        actor: Actor,
        ip: std::net::IpAddr,
    },
    FactorsReset {
        actor: Actor,
        ip: std::net::IpAddr,
    },
    /// `action`: `created`, `updated`, `secret_rotated`, `disabled`, `enabled` or `deleted`; the
    /// client before and after (never its secret).
    /// The owner signed out of every session, and every application's refresh token was revoked.
    SignedOutEverywhere {
        actor: Actor,
        ip: std::net::IpAddr,
        sessions_ended: usize,
        grants_revoked: usize,
    },
    /// Someone holding the old address or number put it back with the undo link; every session
    /// and grant was ended, as a takeover may have happened.
    ContactRestored {
        actor: Actor,
        ip: std::net::IpAddr,
        field: Contact,
        sessions_ended: usize,
        grants_revoked: usize,
    },
    ClientChanged {
        actor: Actor,
        ip: std::net::IpAddr,
        action: &'static str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    },
    /// `action`: `enabled` (a disabled webhook endpoint, `endpoint`) or `replayed` (the event
    /// `event`, to `endpoint` or every endpoint that wants it).
    Webhooks {
        actor: Actor,
        ip: std::net::IpAddr,
        action: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<String>,
    },
}

impl Audited for AdminAudit {
    fn actor(&self) -> Option<String> {
        let (AdminAudit::UserCreated { actor, .. }
        | AdminAudit::UserUpdated { actor, .. }
        | AdminAudit::UserBlocked { actor, .. }
        | AdminAudit::UserUnblocked { actor, .. }
        | AdminAudit::SessionEnded { actor, .. }
        | AdminAudit::UserErased { actor, .. }
        | AdminAudit::BlockLifted { actor, .. }
        | AdminAudit::AccountsLinked { actor, .. }
        | AdminAudit::UsersExported { actor, .. }
        | AdminAudit::FactorsReset { actor, .. }
        | AdminAudit::SignedOutEverywhere { actor, .. }
        | AdminAudit::ContactRestored { actor, .. }
        | AdminAudit::ClientChanged { actor, .. }
        | AdminAudit::Webhooks { actor, .. }) = self;
        match actor {
            Actor::Client { client_id } => Some(client_id.to_string()),
            Actor::Admin { user_id } => Some(user_id.to_string()),
            Actor::Owner => None,
        }
    }

    fn kind(&self) -> domain::audit::AuditKind {
        use domain::audit::AuditKind;
        let owner = self.actor().is_none();
        match self {
            AdminAudit::UserUpdated { .. } if owner => AuditKind::AccountUpdated,
            AdminAudit::SessionEnded { .. } | AdminAudit::SignedOutEverywhere { .. } if owner => {
                AuditKind::AccountSignedOut
            }
            AdminAudit::UserErased { .. } if owner => AuditKind::AccountDeleted,
            AdminAudit::FactorsReset { .. } if owner => AuditKind::AccountFactorsRemoved,
            AdminAudit::SignedOutEverywhere { .. } => AuditKind::AdminSessionEnded,
            AdminAudit::ContactRestored { .. } => AuditKind::AccountContactRestored,
            AdminAudit::UserCreated { .. } => AuditKind::AdminUserCreated,
            AdminAudit::UserUpdated { .. } => AuditKind::AdminUserUpdated,
            AdminAudit::UserBlocked { .. } => AuditKind::AdminUserBlocked,
            AdminAudit::UserUnblocked { .. } => AuditKind::AdminUserUnblocked,
            AdminAudit::SessionEnded { .. } => AuditKind::AdminSessionEnded,
            AdminAudit::UserErased { .. } => AuditKind::AdminUserErased,
            AdminAudit::BlockLifted { .. } => AuditKind::AdminBlockLifted,
            AdminAudit::ClientChanged { .. } => AuditKind::AdminClientChanged,
            AdminAudit::AccountsLinked { .. } => AuditKind::AdminAccountsLinked,
            AdminAudit::UsersExported { .. } => AuditKind::AdminUsersExported,
            AdminAudit::FactorsReset { .. } => AuditKind::AdminFactorsReset,
            AdminAudit::Webhooks { .. } => AuditKind::AdminWebhooks,
        }
    }
}
