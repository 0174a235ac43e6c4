//! A user: the account behind a `sub`.

use crate::{EmailAddress, PhoneNumber, Profile, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Option<EmailAddress>,
    pub email_verified: bool,
    pub created_at: i64,
    pub phone: Option<PhoneNumber>,
    pub phone_verified: bool,
    /// The `profile` and `address` claims (OIDC Core §5.1).
    pub profile: Profile,
    /// Last change to the claims above (`updated_at`, OIDC Core §5.1).
    pub updated_at: i64,
    /// May use the admin console (`/admin`).
    pub is_admin: bool,
    /// Moves by one with every change to the record: an edit names the version it was made from,
    /// and a stale one is refused instead of overwriting someone else's change.
    pub version: i64,
    /// When an admin blocked the account: its sign-ins are refused and no token is minted for it.
    pub blocked_at: Option<i64>,
    /// The account this one is linked to: signing in with this one's address or number signs in
    /// as that one (the same `sub`).
    pub linked_to: Option<UserId>,
}

impl User {
    pub fn is_blocked(&self) -> bool {
        self.blocked_at.is_some()
    }

    /// How pages and messages name the account: its email address, else its number, masked.
    pub fn shown(&self) -> String {
        self.email
            .as_ref()
            .map(|e| e.to_string())
            .or_else(|| self.phone.as_ref().map(|p| p.masked()))
            .unwrap_or_default()
    }
}
