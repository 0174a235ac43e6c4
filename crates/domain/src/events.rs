//! Events: what the operator's webhook endpoints hear about, after the fact. Most events are what
//! an audit entry records ([`EventType::of_audit`]: the one mapping); a few are facts only `store`
//! sees as it writes them (an account made at its first sign-in, a session ended at logout, a
//! refresh token presented again). Either way an event is written in the transaction of what it
//! describes, and delivered later (the `hooks` crate's webhooks).

use serde::{Deserialize, Serialize};

use crate::audit::AuditKind;

/// The kinds of events a webhook endpoint may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "user.blocked")]
    UserBlocked,
    #[serde(rename = "sign_in.succeeded")]
    SignInSucceeded,
    #[serde(rename = "sign_in.failed")]
    SignInFailed,
    #[serde(rename = "step_up.required")]
    StepUpRequired,
    #[serde(rename = "ip.blocked")]
    IpBlocked,
    #[serde(rename = "session.ended")]
    SessionEnded,
    #[serde(rename = "refresh_token.reused")]
    RefreshTokenReused,
    #[serde(rename = "admin.action")]
    AdminAction,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeleted,
        EventType::UserBlocked,
        EventType::SignInSucceeded,
        EventType::SignInFailed,
        EventType::StepUpRequired,
        EventType::IpBlocked,
        EventType::SessionEnded,
        EventType::RefreshTokenReused,
        EventType::AdminAction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeleted => "user.deleted",
            EventType::UserBlocked => "user.blocked",
            EventType::SignInSucceeded => "sign_in.succeeded",
            EventType::SignInFailed => "sign_in.failed",
            EventType::StepUpRequired => "step_up.required",
            EventType::IpBlocked => "ip.blocked",
            EventType::SessionEnded => "session.ended",
            EventType::RefreshTokenReused => "refresh_token.reused",
            EventType::AdminAction => "admin.action",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The events an audit entry of `kind` (its fields as JSON, `detail`) stands for: none, one,
    /// or, for an admin's change to an account, the change and `admin.action`.
    pub fn of_audit(kind: AuditKind, detail: &serde_json::Value) -> Vec<EventType> {
        use AuditKind as K;
        use EventType as E;
        let by_admin = kind.as_str().starts_with("admin.");
        let mut events = match kind {
            K::AdminUserCreated => vec![E::UserCreated],
            K::AdminUserUpdated | K::AccountUpdated | K::AccountContactRestored | K::AdminUserUnblocked => {
                vec![E::UserUpdated]
            }
            K::AdminUserErased | K::AccountDeleted => vec![E::UserDeleted],
            K::AdminUserBlocked => vec![E::UserBlocked],
            K::SignedIn => vec![E::SignInSucceeded],
            K::StepUpDenied => vec![E::SignInFailed],
            // A passkey refused at sign-in or step-up; one refused while being added is no sign-in.
            K::PasskeyRefused => match detail.get("ceremony").and_then(|c| c.as_str()) {
                Some("enroll") => vec![],
                _ => vec![E::SignInFailed],
            },
            // Step-up's decision, `{"decision": {"decision": "ask" | "enroll" | …}, …}`.
            K::StepUpDecision => match detail.pointer("/decision/decision").and_then(|d| d.as_str()) {
                Some("ask" | "enroll") => vec![E::StepUpRequired],
                _ => vec![],
            },
            K::IpBlocked => vec![E::IpBlocked],
            K::AdminSessionEnded | K::AccountSignedOut => vec![E::SessionEnded],
            _ => vec![],
        };
        if by_admin {
            events.push(E::AdminAction);
        }
        events
    }
}

/// One webhook endpoint's choice of events: the ones it names, or every one when it names none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub endpoint: String,
    pub types: Vec<EventType>,
}

impl Route {
    pub fn wants(&self, t: EventType) -> bool {
        self.types.is_empty() || self.types.contains(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
        }
        assert_eq!(EventType::parse("user.exploded"), None);
    }

    #[test]
    fn audit_entries_become_events() {
        let none = serde_json::Value::Null;
        assert_eq!(EventType::of_audit(AuditKind::SignedIn, &none), vec![EventType::SignInSucceeded]);
        assert_eq!(
            EventType::of_audit(AuditKind::AdminUserBlocked, &none),
            vec![EventType::UserBlocked, EventType::AdminAction]
        );
        assert_eq!(EventType::of_audit(AuditKind::AdminClientChanged, &none), vec![EventType::AdminAction]);
        assert_eq!(EventType::of_audit(AuditKind::Alert, &none), vec![]);
        let ask = serde_json::json!({"decision": {"decision": "ask", "factors": ["totp"]}});
        assert_eq!(EventType::of_audit(AuditKind::StepUpDecision, &ask), vec![EventType::StepUpRequired]);
        let enroll = serde_json::json!({"refusal": "wrong_origin", "ceremony": "enroll"});
        assert_eq!(EventType::of_audit(AuditKind::PasskeyRefused, &enroll), vec![]);
        let sign_in = serde_json::json!({"refusal": "wrong_origin", "ceremony": "sign_in"});
        assert_eq!(EventType::of_audit(AuditKind::PasskeyRefused, &sign_in), vec![EventType::SignInFailed]);
        let proceed = serde_json::json!({"decision": {"decision": "proceed"}});
        assert_eq!(EventType::of_audit(AuditKind::StepUpDecision, &proceed), vec![]);
    }

    #[test]
    fn a_route_without_types_wants_everything() {
        let all = Route { endpoint: "a".into(), types: vec![] };
        let some = Route { endpoint: "b".into(), types: vec![EventType::UserCreated] };
        assert!(all.wants(EventType::IpBlocked));
        assert!(some.wants(EventType::UserCreated));
        assert!(!some.wants(EventType::IpBlocked));
    }
}
