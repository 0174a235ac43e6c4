use diesel::prelude::*;
use domain::message::OutgoingMessage;
use domain::{ChallengeId, Channel, ClientId, Destination, InteractionId, StorageError};
use passwordless_connection::storage::{
    Answer, Challenge, ChallengeStore, NewChallenge, Purpose, SignIn, SignInAs, SignedIn, Spend, Spent,
};

use crate::messages::MessageRow;
use crate::schema::{challenges, interactions, messages};
use crate::{Store, StoreError};

fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::FirstFactor => "first",
        Purpose::SecondFactor => "second",
    }
}

fn parse_purpose(text: &str) -> Option<Purpose> {
    match text {
        "first" => Some(Purpose::FirstFactor),
        "second" => Some(Purpose::SecondFactor),
        _ => None,
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = challenges, treat_none_as_default_value = false)]
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
    opened_elsewhere_at: Option<i64>,
}

impl ChallengeRow {
    fn into_challenge(self) -> Result<Challenge, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("challenge {what}"));
        let channel = Channel::parse(&self.channel).ok_or_else(|| corrupt("channel"))?;
        Ok(Challenge {
            id: ChallengeId::parse(&self.id).ok_or_else(|| corrupt("id"))?,
            interaction_id: InteractionId::parse(&self.interaction_id).ok_or_else(|| corrupt("interaction"))?,
            destination: Destination::parse(channel, &self.destination)
                .map_err(|e| StoreError::Corrupt(format!("challenge destination: {e}")))?,
            client_id: ClientId::parse(&self.client_id).ok_or_else(|| corrupt("client"))?,
            purpose: parse_purpose(&self.purpose).ok_or_else(|| corrupt("purpose"))?,
            code_hash: self.code_hash,
            link_hash: self.link_hash,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            created_at: self.created_at,
            expires_at: self.expires_at,
            consumed_at: self.consumed_at,
            superseded: self.superseded,
            approved_at: self.approved_at,
            opened_elsewhere_at: self.opened_elsewhere_at,
            origin: self.origin,
        })
    }
}

/// Newest first: the order in which a lookup takes the latest of several challenges.
fn newest_first() -> (diesel::dsl::Desc<challenges::created_at>, diesel::dsl::Desc<challenges::id>) {
    (challenges::created_at.desc(), challenges::id.desc())
}

/// The newest of the challenges `query` selects.
fn newest(
    conn: &mut crate::DbConnection,
    query: challenges::BoxedQuery<'static, <crate::DbConnection as diesel::Connection>::Backend>,
) -> Result<Option<Challenge>, StoreError> {
    query
        .order(newest_first())
        .select(ChallengeRow::as_select())
        .first(conn)
        .optional()?
        .map(ChallengeRow::into_challenge)
        .transpose()
}

#[async_trait::async_trait]
impl ChallengeStore for Store {
    async fn create_challenge(
        &self,
        new: NewChallenge,
        message: Option<OutgoingMessage>,
    ) -> Result<bool, StorageError> {
        let row = ChallengeRow {
            id: new.id.to_string(),
            interaction_id: new.interaction_id.to_string(),
            channel: new.destination.channel().as_str().to_owned(),
            destination: new.destination.as_str().to_owned(),
            code_hash: new.code_hash,
            link_hash: new.link_hash,
            attempts: 0,
            max_attempts: new.max_attempts,
            created_at: new.created_at,
            expires_at: new.expires_at,
            consumed_at: None,
            superseded: false,
            approved_at: None,
            client_id: new.client_id.to_string(),
            origin: new.origin,
            purpose: purpose_name(new.purpose).to_owned(),
            opened_elsewhere_at: None,
        };
        let queued = message.map(|message| MessageRow::queued(message, row.created_at));
        self.atomic(move |conn| {
            // A write first: it takes SQLite's write lock at once (no read-then-upgrade deadlock)
            // and PostgreSQL's row lock, so `record_first_factor` cannot slip in between.
            let live = interactions::table
                .find(new.interaction_id.as_str())
                .filter(interactions::result.is_null())
                .filter(interactions::denied.is_null())
                .filter(interactions::expires_at.gt(new.created_at));
            let in_state = match new.purpose {
                Purpose::FirstFactor => crate::cached::update(
                    live.filter(interactions::first_factor.is_null()),
                    interactions::kind.eq(interactions::kind),
                )
                .execute(conn)?,
                Purpose::SecondFactor => crate::cached::update(
                    live.filter(interactions::first_factor.is_not_null()),
                    interactions::kind.eq(interactions::kind),
                )
                .execute(conn)?,
            };
            if in_state != 1 {
                return Ok(false);
            }
            crate::cached::update(
                challenges::table
                    .filter(
                        challenges::destination
                            .eq(new.destination.as_str())
                            .or(challenges::interaction_id.eq(new.interaction_id.as_str())),
                    )
                    .filter(challenges::consumed_at.is_null())
                    .filter(challenges::superseded.eq(false)),
                challenges::superseded.eq(true),
            )
            .execute(conn)?;
            crate::db::execute(conn, diesel::insert_into(challenges::table).values(&row))?;
            if let Some(queued) = &queued {
                crate::db::execute(conn, diesel::insert_into(messages::table).values(queued))?;
            }
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn latest_challenge(&self, interaction: &InteractionId) -> Result<Option<Challenge>, StorageError> {
        let id = interaction.to_string();
        self.read(move |conn| {
            // As `newest`, on the backend's own connection: every step of a sign-in by code reads it.
            let row: Option<ChallengeRow> = crate::db::on_backend!(conn, |c| {
                challenges::table
                    .filter(challenges::interaction_id.eq(&id))
                    .filter(challenges::purpose.eq(purpose_name(Purpose::FirstFactor)))
                    .order(newest_first())
                    .select(ChallengeRow::as_select())
                    .first(c)
                    .optional()
            })?;
            row.map(ChallengeRow::into_challenge).transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn latest_challenge_for(
        &self,
        client: &ClientId,
        destination: &Destination,
    ) -> Result<Option<Challenge>, StorageError> {
        let (client, destination) = (client.to_string(), destination.as_str().to_owned());
        self.read(move |conn| {
            let query = challenges::table
                .filter(challenges::client_id.eq(client))
                .filter(challenges::destination.eq(destination))
                .filter(challenges::purpose.eq(purpose_name(Purpose::FirstFactor)))
                .into_boxed();
            newest(conn, query)
        })
        .await
        .map_err(Into::into)
    }

    async fn latest_second_factor(
        &self,
        interaction: &InteractionId,
        destination: &Destination,
    ) -> Result<Option<Challenge>, StorageError> {
        let (id, destination) = (interaction.to_string(), destination.as_str().to_owned());
        self.read(move |conn| {
            let query = challenges::table
                .filter(challenges::interaction_id.eq(id))
                .filter(challenges::purpose.eq(purpose_name(Purpose::SecondFactor)))
                .filter(challenges::destination.eq(destination))
                .into_boxed();
            newest(conn, query)
        })
        .await
        .map_err(Into::into)
    }

    async fn challenge_by_link(&self, link_hash: Vec<u8>) -> Result<Option<Challenge>, StorageError> {
        self.read(move |conn| newest(conn, challenges::table.filter(challenges::link_hash.eq(link_hash)).into_boxed()))
            .await
            .map_err(Into::into)
    }

    async fn take_attempt(&self, id: &ChallengeId, now: i64) -> Result<bool, StorageError> {
        let id = id.to_string();
        self.run_repeatable(move |conn| {
            let n = crate::cached::update(
                challenges::table
                    .find(id.as_str())
                    .filter(challenges::consumed_at.is_null())
                    .filter(challenges::superseded.eq(false))
                    .filter(challenges::expires_at.gt(now))
                    .filter(challenges::attempts.lt(challenges::max_attempts)),
                challenges::attempts.eq(challenges::attempts + 1),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }

    async fn challenge_attempts_left(&self, id: &ChallengeId) -> Result<i32, StorageError> {
        let id = id.to_string();
        self.read(move |conn| {
            let row: Option<(i32, i32)> = challenges::table
                .find(id)
                .select((challenges::attempts, challenges::max_attempts))
                .first(conn)
                .optional()?;
            Ok(row.map(|(attempts, max)| max - attempts).unwrap_or(0))
        })
        .await
        .map_err(Into::into)
    }

    async fn spend_challenge(&self, spend: Spend) -> Result<Spent, StorageError> {
        self.atomic(move |conn| spend_in(conn, &spend)).await.map_err(Into::into)
    }

    async fn link_opened_elsewhere(&self, id: &ChallengeId, now: i64) -> Result<(), StorageError> {
        let id = id.to_string();
        self.run(move |conn| {
            crate::cached::update(
                challenges::table
                    .find(id)
                    .filter(challenges::opened_elsewhere_at.is_null())
                    .filter(challenges::consumed_at.is_null())
                    .filter(challenges::superseded.eq(false))
                    .filter(challenges::expires_at.gt(now)),
                challenges::opened_elsewhere_at.eq(Some(now)),
            )
            .execute(conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    async fn approve_challenge(&self, id: &ChallengeId, now: i64) -> Result<bool, StorageError> {
        let id = id.to_string();
        self.run(move |conn| {
            let n = crate::cached::update(
                challenges::table
                    .find(id)
                    .filter(challenges::consumed_at.is_null())
                    .filter(challenges::approved_at.is_null())
                    .filter(challenges::superseded.eq(false))
                    .filter(challenges::expires_at.gt(now)),
                challenges::approved_at.eq(Some(now)),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }
}

/// [`ChallengeStore::spend_challenge`], inside its transaction.
fn spend_in(conn: &mut crate::DbConnection, spend: &Spend) -> Result<Spent, StoreError> {
    let Spend { challenge, answer, now, sign_in } = spend;
    let now = *now;
    if let Some(SignInAs { record: Some(interaction), .. }) = sign_in {
        // The interaction's row first, as `create_challenge` takes them (no lock-order deadlock
        // under PostgreSQL); a write, so SQLite takes its write lock at once.
        crate::cached::update(
            interactions::table.find(interaction.as_str()),
            interactions::kind.eq(interactions::kind),
        )
        .execute(conn)?;
    }
    let live = challenges::table
        .find(challenge.as_str())
        .filter(challenges::consumed_at.is_null())
        .filter(challenges::superseded.eq(false))
        .filter(challenges::expires_at.gt(now));
    // The proof's channel and destination, when the code's read brought them already.
    let mut proof: Option<(String, String)> = None;
    let spent = match answer {
        Answer::Code(given) => {
            // Its attempt was taken (`take_attempt`) before the IP's failure budgets were.
            let row: Option<(Vec<u8>, i32, i32, String, String)> = crate::db::on_backend!(conn, |c| {
                live.filter(challenges::attempts.le(challenges::max_attempts))
                    .select((
                        challenges::code_hash,
                        challenges::attempts,
                        challenges::max_attempts,
                        challenges::channel,
                        challenges::destination,
                    ))
                    .first(c)
                    .optional()
            })?;
            let Some((code_hash, attempts, max_attempts, channel, destination)) = row else {
                return Ok(Spent::Closed);
            };
            if !domain::secret::constant_time_eq(given, &code_hash) {
                return Ok(Spent::Wrong { remaining: max_attempts - attempts });
            }
            proof = Some((channel, destination));
            crate::cached::update(live, challenges::consumed_at.eq(Some(now))).execute(conn)?
        }
        // An approval on another device took its attempt already, and may have reached the cap.
        Answer::Link { approved: true } => crate::cached::update(
            live.filter(challenges::attempts.le(challenges::max_attempts)),
            challenges::consumed_at.eq(Some(now)),
        )
        .execute(conn)?,
        Answer::Link { approved: false } => crate::cached::update(
            live.filter(challenges::attempts.lt(challenges::max_attempts)),
            challenges::consumed_at.eq(Some(now)),
        )
        .execute(conn)?,
    };
    if spent != 1 {
        return Ok(Spent::Closed);
    }
    let Some(plan) = sign_in else { return Ok(Spent::Right(None)) };
    let (channel, destination): (String, String) = match proof {
        Some(known) => known,
        None => challenges::table
            .find(challenge.as_str())
            .select((challenges::channel, challenges::destination))
            .first(conn)?,
    };
    let channel = Channel::parse(&channel).ok_or_else(|| StoreError::Corrupt("challenge channel".into()))?;
    let account = crate::users::sign_in_in(conn, &crate::users::Proof::of(channel, destination), plan.create, now)?;
    let recorded = match (&account, &plan.record) {
        (SignIn::Existing(user) | SignIn::Created(user), Some(interaction)) if !user.is_blocked() => {
            let login = domain::LoginResult::single_factor(user.id.clone(), plan.amr, now);
            crate::interactions::record_first_factor_in(conn, interaction, &login, now)?
        }
        _ => false,
    };
    Ok(Spent::Right(Some(Box::new(SignedIn { account, recorded }))))
}
