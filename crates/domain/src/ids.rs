//! Identifiers are types, not bare strings. They are random, URL-safe and carry no meaning.

use serde::{Deserialize, Serialize};

use crate::secret::random_token;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $bytes:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random identifier from the operating system's CSPRNG. It never starts with
            /// `-` or `_`, so it can be given to a command line as it is (not taken for an option).
            pub fn generate() -> Self {
                loop {
                    let token = random_token($bytes);
                    if token.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                        return Self(token);
                    }
                }
            }

            /// Accepts only what `generate` could have produced (base64url, bounded length), so a
            /// hostile value from a URL or form never reaches a query unchecked.
            pub fn parse(raw: &str) -> Option<Self> {
                let ok = !raw.is_empty()
                    && raw.len() <= 64
                    && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                ok.then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The stable, opaque subject of a user (`sub` in tokens).
    UserId,
    16
);
id_type!(
    /// An OAuth client (relying party) identifier.
    ClientId,
    16
);
id_type!(
    /// One pending login: created by `/authorize`, completed by a connection, resumed once.
    InteractionId,
    16
);

id_type!(
    /// A grant: every token issued from one authorization (code, access and refresh tokens).
    GrantId,
    16
);
id_type!(
    /// One sign-in challenge (a code, a link and a matching number derived from it).
    ChallengeId,
    16
);
id_type!(
    /// One message in the outgoing queue.
    MessageId,
    16
);

impl ChallengeId {
    /// A fresh id that sorts by creation time (see [`sortable_id`]).
    pub fn sortable() -> Self {
        Self(sortable_id())
    }
}

impl MessageId {
    /// A fresh id that sorts by creation time (see [`sortable_id`]).
    pub fn sortable() -> Self {
        Self(sortable_id())
    }
}

/// A random id that sorts by creation time (microseconds, then 64 random bits), for rows shown
/// newest first where many are created within one second.
pub fn sortable_id() -> String {
    let micros =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or_default();
    format!("{micros:016x}{}", crate::secret::random_token(8))
}
