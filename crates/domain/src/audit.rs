//! The audit log: what happened to whom, from where, and why. Every crate that decides something
//! about an account writes to it; nothing edits it.

use serde::{Deserialize, Serialize};

use crate::storage::StorageError;
use crate::{ClientId, UserId};

/// The kinds of audit entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// Step-up assessed a sign-in (its decision, signals and reasons).
    #[serde(rename = "step_up.decision")]
    StepUpDecision,
    /// Step-up refused a sign-in.
    #[serde(rename = "step_up.denied")]
    StepUpDenied,
    /// A sign-in completed (its `acr`, `amr` and reasons).
    #[serde(rename = "step_up.signed_in")]
    SignedIn,
    /// A second factor was set up.
    #[serde(rename = "factor.enrolled")]
    FactorEnrolled,
    /// The account's owner said a sign-in was not theirs.
    #[serde(rename = "not_me")]
    NotMe,
    /// An IP (or IPv6 /64) was blocked after too many wrong codes.
    #[serde(rename = "ip.blocked")]
    IpBlocked,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::StepUpDecision => "step_up.decision",
            AuditKind::StepUpDenied => "step_up.denied",
            AuditKind::SignedIn => "step_up.signed_in",
            AuditKind::FactorEnrolled => "factor.enrolled",
            AuditKind::NotMe => "not_me",
            AuditKind::IpBlocked => "ip.blocked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            AuditKind::StepUpDecision,
            AuditKind::StepUpDenied,
            AuditKind::SignedIn,
            AuditKind::FactorEnrolled,
            AuditKind::NotMe,
            AuditKind::IpBlocked,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// One audit entry. `detail` is structured data the writing crate chose (serialised by it).
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub user: Option<UserId>,
    pub client: Option<ClientId>,
    pub detail: serde_json::Value,
    pub at: i64,
}

/// Where audit entries go.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: AuditEvent) -> Result<(), StorageError>;
}
