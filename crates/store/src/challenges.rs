use diesel::prelude::*;
use domain::InteractionId;

use crate::messages::{MessageRow, NewMessage};
use crate::schema::{challenges, interactions, messages};
use crate::{Store, StoreError};

/// What a challenge proves when it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The first factor of a sign-in: who the user is (the login pages and the API).
    FirstFactor,
    /// Step-up's code on the other channel, to the user's own verified address or number.
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::FirstFactor => "first",
            Purpose::SecondFactor => "second",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "first" => Some(Purpose::FirstFactor),
            "second" => Some(Purpose::SecondFactor),
            _ => None,
        }
    }
}

/// A sign-in challenge: one code and one link token, both stored only as keyed hashes.
#[derive(Clone, Debug)]
pub struct Challenge {
    pub id: String,
    pub interaction_id: InteractionId,
    pub channel: String,
    pub destination: String,
    pub code_hash: Vec<u8>,
    pub link_hash: Vec<u8>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub superseded: bool,
    /// Set when the magic link was approved on another device (cross-device sign-in).
    pub approved_at: Option<i64>,
    pub client_id: String,
    /// Where the sign-in was started: an IP address and a device description.
    pub origin: String,
    pub purpose: Purpose,
}

pub struct NewChallenge {
    pub id: String,
    pub interaction_id: InteractionId,
    pub channel: String,
    pub destination: String,
    pub code_hash: Vec<u8>,
    pub link_hash: Vec<u8>,
    pub max_attempts: i32,
    pub created_at: i64,
    pub expires_at: i64,
    pub client_id: String,
    pub origin: String,
    pub purpose: Purpose,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = challenges)]
struct ChallengeRow {
    id: String,
    interaction_id: String,
    channel: String,
    destination: String,
    code_hash: Vec<u8>,
    link_hash: Vec<u8>,
    attempts: i32,
    max_attempts: i32,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
    superseded: bool,
    approved_at: Option<i64>,
    client_id: String,
    origin: String,
    purpose: String,
}

impl ChallengeRow {
    fn into_challenge(self) -> Result<Challenge, StoreError> {
        Ok(Challenge {
            interaction_id: InteractionId::parse(&self.interaction_id)
                .ok_or_else(|| StoreError::Corrupt("challenge interaction".into()))?,
            id: self.id,
            channel: self.channel,
            destination: self.destination,
            code_hash: self.code_hash,
            link_hash: self.link_hash,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            created_at: self.created_at,
            expires_at: self.expires_at,
            consumed_at: self.consumed_at,
            superseded: self.superseded,
            approved_at: self.approved_at,
            client_id: self.client_id,
            origin: self.origin,
            purpose: Purpose::parse(&self.purpose)
                .ok_or_else(|| StoreError::Corrupt(format!("challenge purpose {:?}", self.purpose)))?,
        })
    }
}

impl Store {
    /// Creates a challenge and queues its message (if any) in one transaction: either both exist or
    /// neither. Every earlier open challenge for the same destination, or of the same sign-in, is
    /// superseded, so only the newest is valid.
    ///
    /// The interaction's state is checked in the same transaction, under its row lock: a
    /// first-factor challenge only while no first factor is recorded (a sign-in that proved who the
    /// user is cannot be re-aimed at another address), a second-factor one only after it is. Returns
    /// false, creating nothing, when the interaction is not in that state (or has ended).
    pub async fn create_challenge(&self, new: NewChallenge, message: Option<NewMessage>) -> Result<bool, StoreError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                // A write first: it takes SQLite's write lock at once (no read-then-upgrade deadlock)
                // and PostgreSQL's row lock, so `record_first_factor` cannot slip in between.
                let live = interactions::table
                    .find(new.interaction_id.as_str())
                    .filter(interactions::result.is_null())
                    .filter(interactions::denied.is_null())
                    .filter(interactions::expires_at.gt(new.created_at));
                let in_state = match new.purpose {
                    Purpose::FirstFactor => diesel::update(live.filter(interactions::first_factor.is_null()))
                        .set(interactions::kind.eq(interactions::kind))
                        .execute(conn)?,
                    Purpose::SecondFactor => diesel::update(live.filter(interactions::first_factor.is_not_null()))
                        .set(interactions::kind.eq(interactions::kind))
                        .execute(conn)?,
                };
                if in_state != 1 {
                    return Ok(false);
                }
                diesel::update(
                    challenges::table
                        .filter(
                            challenges::destination
                                .eq(&new.destination)
                                .or(challenges::interaction_id.eq(new.interaction_id.as_str())),
                        )
                        .filter(challenges::consumed_at.is_null())
                        .filter(challenges::superseded.eq(false)),
                )
                .set(challenges::superseded.eq(true))
                .execute(conn)?;
                let row = ChallengeRow {
                    id: new.id,
                    interaction_id: new.interaction_id.to_string(),
                    channel: new.channel,
                    destination: new.destination,
                    code_hash: new.code_hash,
                    link_hash: new.link_hash,
                    attempts: 0,
                    max_attempts: new.max_attempts,
                    created_at: new.created_at,
                    expires_at: new.expires_at,
                    consumed_at: None,
                    superseded: false,
                    approved_at: None,
                    client_id: new.client_id,
                    origin: new.origin,
                    purpose: new.purpose.as_str().to_owned(),
                };
                diesel::insert_into(challenges::table).values(&row).execute(conn)?;
                if let Some(message) = message {
                    diesel::insert_into(messages::table)
                        .values(&MessageRow::queued(message, row.created_at))
                        .execute(conn)?;
                }
                Ok(true)
            })
        })
        .await
    }

    /// The newest first-factor challenge started for this interaction.
    pub async fn latest_challenge(&self, interaction: &InteractionId) -> Result<Option<Challenge>, StoreError> {
        let id = interaction.to_string();
        self.run(move |conn| {
            challenges::table
                .filter(challenges::interaction_id.eq(id))
                .filter(challenges::purpose.eq(Purpose::FirstFactor.as_str()))
                .order((challenges::created_at.desc(), challenges::id.desc()))
                .select(ChallengeRow::as_select())
                .first(conn)
                .optional()?
                .map(ChallengeRow::into_challenge)
                .transpose()
        })
        .await
    }

    /// The newest second-factor challenge step-up started for this interaction, to `destination`.
    pub async fn latest_second_factor(
        &self,
        interaction: &InteractionId,
        destination: &str,
    ) -> Result<Option<Challenge>, StoreError> {
        let (id, destination) = (interaction.to_string(), destination.to_owned());
        self.run(move |conn| {
            challenges::table
                .filter(challenges::interaction_id.eq(id))
                .filter(challenges::purpose.eq(Purpose::SecondFactor.as_str()))
                .filter(challenges::destination.eq(destination))
                .order((challenges::created_at.desc(), challenges::id.desc()))
                .select(ChallengeRow::as_select())
                .first(conn)
                .optional()?
                .map(ChallengeRow::into_challenge)
                .transpose()
        })
        .await
    }

    pub async fn challenge_by_link(&self, link_hash: Vec<u8>) -> Result<Option<Challenge>, StoreError> {
        self.run(move |conn| {
            challenges::table
                .filter(challenges::link_hash.eq(link_hash))
                .select(ChallengeRow::as_select())
                .first(conn)
                .optional()?
                .map(ChallengeRow::into_challenge)
                .transpose()
        })
        .await
    }

    /// Takes one of the challenge's attempts before a typed code is compared, so that N parallel
    /// guesses get exactly `max_attempts` comparisons between them. Atomic. False when the
    /// challenge is spent, superseded, expired, capped or gone: nothing may be compared then.
    pub async fn take_attempt(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            let n = diesel::update(
                challenges::table
                    .find(id)
                    .filter(challenges::consumed_at.is_null())
                    .filter(challenges::superseded.eq(false))
                    .filter(challenges::expires_at.gt(now))
                    .filter(challenges::attempts.lt(challenges::max_attempts)),
            )
            .set(challenges::attempts.eq(challenges::attempts + 1))
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
    }

    /// Spends a live challenge. Exactly one of any number of concurrent callers gets `true`.
    /// `attempt_taken`: the caller holds an attempt it took for a code that matched (so the cap may
    /// have been reached by that very attempt); a link, which takes none, needs one left.
    pub async fn consume_challenge(&self, id: &str, now: i64, attempt_taken: bool) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            let live = challenges::table
                .find(id)
                .filter(challenges::consumed_at.is_null())
                .filter(challenges::superseded.eq(false))
                .filter(challenges::expires_at.gt(now));
            let n = if attempt_taken {
                diesel::update(live.filter(challenges::attempts.le(challenges::max_attempts)))
                    .set(challenges::consumed_at.eq(Some(now)))
                    .execute(conn)?
            } else {
                diesel::update(live.filter(challenges::attempts.lt(challenges::max_attempts)))
                    .set(challenges::consumed_at.eq(Some(now)))
                    .execute(conn)?
            };
            Ok(n == 1)
        })
        .await
    }

    /// The attempts a challenge has left (0 when it is gone).
    pub async fn challenge_attempts_left(&self, id: &str) -> Result<i32, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            let row: Option<(i32, i32)> = challenges::table
                .find(id)
                .select((challenges::attempts, challenges::max_attempts))
                .first(conn)
                .optional()?;
            Ok(row.map(|(attempts, max)| max - attempts).unwrap_or(0))
        })
        .await
    }

    /// The newest first-factor challenge a client started for `destination` (the API has no
    /// interaction in hand; the caller checks that the interaction is the API's).
    pub async fn latest_challenge_for(
        &self,
        client_id: &str,
        destination: &str,
    ) -> Result<Option<Challenge>, StoreError> {
        let (client_id, destination) = (client_id.to_owned(), destination.to_owned());
        self.run(move |conn| {
            challenges::table
                .filter(challenges::client_id.eq(client_id))
                .filter(challenges::destination.eq(destination))
                .filter(challenges::purpose.eq(Purpose::FirstFactor.as_str()))
                .order((challenges::created_at.desc(), challenges::id.desc()))
                .select(ChallengeRow::as_select())
                .first(conn)
                .optional()?
                .map(ChallengeRow::into_challenge)
                .transpose()
        })
        .await
    }

    /// Records that the magic link was approved on another device. True for the first approval of
    /// a live challenge only.
    pub async fn approve_challenge(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            let n = diesel::update(
                challenges::table
                    .find(id)
                    .filter(challenges::consumed_at.is_null())
                    .filter(challenges::approved_at.is_null())
                    .filter(challenges::superseded.eq(false))
                    .filter(challenges::expires_at.gt(now)),
            )
            .set(challenges::approved_at.eq(Some(now)))
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
    }
}
