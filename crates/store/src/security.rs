//! What step-up keeps: known devices, the login history, second factors (authenticator apps and
//! recovery codes) and the audit log.

use diesel::prelude::*;
use domain::{InteractionId, UserId};

use crate::schema::{audit_log, devices, login_events, recovery_codes, totp_factors};
use crate::{Store, StoreError};

/// A browser a user signed in on.
#[derive(Clone, Debug)]
pub struct Device {
    pub description: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub blocked_at: Option<i64>,
}

/// One sign-in that got past the first factor.
#[derive(Clone, Debug)]
pub struct LoginEvent {
    pub id: String,
    pub user_id: UserId,
    pub client_id: String,
    pub created_at: i64,
    pub ip: String,
    /// The /24 (IPv4) or /48 (IPv6) network of `ip`.
    pub network: String,
    /// ISO 3166-1 alpha-2, when the address could be placed.
    pub country: Option<String>,
    /// Keyed hash of the device cookie's id.
    pub device_hash: Vec<u8>,
    /// "Firefox on Linux".
    pub device: String,
    /// JSON list of `amr` values.
    pub amr: String,
    pub acr: String,
    /// JSON list of the reasons step-up gave.
    pub reasons: String,
    /// `signed_in` (only successful sign-ins are recorded; refusals are in the audit log).
    pub outcome: String,
    /// Keyed hash of the token in the "This wasn't me" link, when a notification was sent.
    pub not_me_hash: Option<Vec<u8>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = login_events)]
struct LoginEventRow {
    id: String,
    user_id: String,
    client_id: String,
    created_at: i64,
    ip: String,
    network: String,
    country: Option<String>,
    device_hash: Vec<u8>,
    device: String,
    amr: String,
    acr: String,
    reasons: String,
    outcome: String,
    not_me_hash: Option<Vec<u8>>,
    not_me_at: Option<i64>,
}

impl LoginEventRow {
    fn into_event(self) -> Result<LoginEvent, StoreError> {
        Ok(LoginEvent {
            user_id: UserId::parse(&self.user_id).ok_or_else(|| StoreError::Corrupt("login event user".into()))?,
            id: self.id,
            client_id: self.client_id,
            created_at: self.created_at,
            ip: self.ip,
            network: self.network,
            country: self.country,
            device_hash: self.device_hash,
            device: self.device,
            amr: self.amr,
            acr: self.acr,
            reasons: self.reasons,
            outcome: self.outcome,
            not_me_hash: self.not_me_hash,
        })
    }
}

/// An authenticator app (RFC 6238): its secret sealed at rest, and the last time step accepted.
#[derive(Clone, Debug)]
pub struct TotpFactor {
    pub sealed_secret: Vec<u8>,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_step: Option<i64>,
    /// The sign-in whose enrolment created a pending (unconfirmed) secret.
    pub interaction_id: Option<InteractionId>,
}

/// Turning a pending enrolment on: only from the sign-in that started it, with the recovery codes
/// (keyed hashes) that replace any older ones.
pub struct Confirm<'a> {
    pub interaction: &'a InteractionId,
    pub recovery_codes: Vec<Vec<u8>>,
}

impl Store {
    /// The user's record of this device, if it ever signed in there.
    pub async fn device(&self, user: &UserId, id_hash: Vec<u8>) -> Result<Option<Device>, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            Ok(devices::table
                .find((user, id_hash))
                .select((devices::description, devices::created_at, devices::last_seen_at, devices::blocked_at))
                .first::<(String, i64, i64, Option<i64>)>(conn)
                .optional()?
                .map(|(description, created_at, last_seen_at, blocked_at)| Device {
                    description,
                    created_at,
                    last_seen_at,
                    blocked_at,
                }))
        })
        .await
    }

    /// Marks a device known to the user after a successful sign-in on it (or refreshes it).
    pub async fn remember_device(
        &self,
        user: &UserId,
        id_hash: Vec<u8>,
        description: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (user, description) = (user.to_string(), description.to_owned());
        self.run(move |conn| {
            let n = diesel::update(devices::table.find((&user, &id_hash)))
                .set((devices::last_seen_at.eq(now), devices::description.eq(&description)))
                .execute(conn)?;
            if n == 0 {
                let inserted = diesel::insert_into(devices::table)
                    .values((
                        devices::user_id.eq(&user),
                        devices::id_hash.eq(&id_hash),
                        devices::description.eq(&description),
                        devices::created_at.eq(now),
                        devices::last_seen_at.eq(now),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_)
                    | Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
        .await
    }

    pub async fn record_login_event(&self, e: &LoginEvent) -> Result<(), StoreError> {
        let row = LoginEventRow {
            id: e.id.clone(),
            user_id: e.user_id.to_string(),
            client_id: e.client_id.clone(),
            created_at: e.created_at,
            ip: e.ip.clone(),
            network: e.network.clone(),
            country: e.country.clone(),
            device_hash: e.device_hash.clone(),
            device: e.device.clone(),
            amr: e.amr.clone(),
            acr: e.acr.clone(),
            reasons: e.reasons.clone(),
            outcome: e.outcome.clone(),
            not_me_hash: e.not_me_hash.clone(),
            not_me_at: None,
        };
        self.run(move |conn| {
            diesel::insert_into(login_events::table).values(&row).execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The user's successful sign-ins, newest first, `limit` at most.
    pub async fn login_history(&self, user: &UserId, limit: i64) -> Result<Vec<LoginEvent>, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            login_events::table
                .filter(login_events::user_id.eq(user))
                .filter(login_events::outcome.eq("signed_in"))
                .order((login_events::created_at.desc(), login_events::id.desc()))
                .limit(limit)
                .select(LoginEventRow::as_select())
                .load(conn)?
                .into_iter()
                .map(LoginEventRow::into_event)
                .collect()
        })
        .await
    }

    /// The sign-in a "This wasn't me" link stands for, while the link is unused and not older than
    /// `oldest`.
    pub async fn login_event_by_not_me(&self, hash: Vec<u8>, oldest: i64) -> Result<Option<LoginEvent>, StoreError> {
        self.run(move |conn| {
            login_events::table
                .filter(login_events::not_me_hash.eq(hash))
                .filter(login_events::not_me_at.is_null())
                .filter(login_events::created_at.ge(oldest))
                .select(LoginEventRow::as_select())
                .first(conn)
                .optional()?
                .map(LoginEventRow::into_event)
                .transpose()
        })
        .await
    }

    /// "This wasn't me", all or nothing: spends the link (once), ends every session of the account,
    /// revokes every grant (codes, access and refresh tokens), blocks the device that signed in, and
    /// writes the audit entry. Returns the sign-in and (sessions ended, grants revoked), or `None`
    /// when the link was used, too old or unknown.
    pub async fn report_not_me(
        &self,
        hash: Vec<u8>,
        oldest: i64,
        now: i64,
    ) -> Result<Option<(LoginEvent, usize, usize)>, StoreError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let spent = diesel::update(
                    login_events::table
                        .filter(login_events::not_me_hash.eq(&hash))
                        .filter(login_events::not_me_at.is_null())
                        .filter(login_events::created_at.ge(oldest)),
                )
                .set(login_events::not_me_at.eq(Some(now)))
                .execute(conn)?;
                if spent != 1 {
                    return Ok(None);
                }
                let event = login_events::table
                    .filter(login_events::not_me_hash.eq(&hash))
                    .select(LoginEventRow::as_select())
                    .first(conn)?
                    .into_event()?;
                let user = event.user_id.to_string();
                let (sessions, grants) = crate::sessions::end_everything_in(conn, &user, now)?;
                let blocked = diesel::update(devices::table.find((&user, &event.device_hash)))
                    .set(devices::blocked_at.eq(Some(now)))
                    .execute(conn)?;
                if blocked == 0 {
                    diesel::insert_into(devices::table)
                        .values((
                            devices::user_id.eq(&user),
                            devices::id_hash.eq(&event.device_hash),
                            devices::description.eq(&event.device),
                            devices::created_at.eq(now),
                            devices::last_seen_at.eq(now),
                            devices::blocked_at.eq(Some(now)),
                        ))
                        .execute(conn)?;
                }
                let detail = serde_json::json!({
                    "sessions_ended": sessions, "grants_revoked": grants, "device": event.device, "ip": event.ip,
                });
                diesel::insert_into(audit_log::table)
                    .values((
                        audit_log::id.eq(domain::ids::sortable_id()),
                        audit_log::created_at.eq(now),
                        audit_log::kind.eq("not_me"),
                        audit_log::user_id.eq(Some(&user)),
                        audit_log::client_id.eq(Some(&event.client_id)),
                        audit_log::detail.eq(detail.to_string()),
                    ))
                    .execute(conn)?;
                Ok(Some((event, sessions, grants)))
            })
        })
        .await
    }

    pub async fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            Ok(totp_factors::table
                .find(user)
                .select((
                    totp_factors::sealed_secret,
                    totp_factors::created_at,
                    totp_factors::confirmed_at,
                    totp_factors::last_step,
                    totp_factors::interaction_id,
                ))
                .first::<(Vec<u8>, i64, Option<i64>, Option<i64>, Option<String>)>(conn)
                .optional()?
                .map(|(sealed_secret, created_at, confirmed_at, last_step, interaction)| TotpFactor {
                    sealed_secret,
                    created_at,
                    confirmed_at,
                    last_step,
                    interaction_id: interaction.as_deref().and_then(InteractionId::parse),
                }))
        })
        .await
    }

    /// Starts (or restarts) an enrolment for the sign-in `interaction`: a new secret, unconfirmed.
    /// A confirmed factor is kept.
    pub async fn begin_totp(
        &self,
        user: &UserId,
        sealed_secret: Vec<u8>,
        interaction: &InteractionId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (user, interaction) = (user.to_string(), interaction.to_string());
        self.run(move |conn| {
            conn.transaction(|conn| {
                // Writes only (SQLite takes its write lock at the first, never upgrading a read):
                // restart a pending enrolment, or create one, but never touch a confirmed factor.
                let restarted =
                    diesel::update(totp_factors::table.find(&user).filter(totp_factors::confirmed_at.is_null()))
                        .set((
                            totp_factors::sealed_secret.eq(&sealed_secret),
                            totp_factors::created_at.eq(now),
                            totp_factors::interaction_id.eq(Some(&interaction)),
                        ))
                        .execute(conn)?;
                if restarted == 1 {
                    return Ok(true);
                }
                // A confirmed factor is kept (matched by a write that changes nothing).
                let confirmed = diesel::update(totp_factors::table.find(&user))
                    .set(totp_factors::user_id.eq(totp_factors::user_id))
                    .execute(conn)?;
                if confirmed == 1 {
                    return Ok(false);
                }
                diesel::insert_into(totp_factors::table)
                    .values((
                        totp_factors::user_id.eq(&user),
                        totp_factors::sealed_secret.eq(&sealed_secret),
                        totp_factors::created_at.eq(now),
                        totp_factors::interaction_id.eq(Some(&interaction)),
                    ))
                    .execute(conn)?;
                Ok(true)
            })
        })
        .await
    }

    /// Accepts a TOTP time step: true only if it is later than every step accepted before (RFC 6238
    /// §5.2: a code is accepted once), and atomically, so two parallel submissions cannot both win.
    /// With `confirm`, a pending enrolment of that sign-in becomes active and its recovery codes
    /// replace any older ones.
    pub async fn accept_totp_step(
        &self,
        user: &UserId,
        step: i64,
        confirm: Option<Confirm<'_>>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let user = user.to_string();
        let confirm = confirm.map(|c| (c.interaction.to_string(), c.recovery_codes));
        self.run(move |conn| {
            conn.transaction(|conn| {
                let target = totp_factors::table
                    .find(&user)
                    .filter(totp_factors::last_step.is_null().or(totp_factors::last_step.lt(step)));
                let n = match &confirm {
                    Some((interaction, _)) => diesel::update(
                        target
                            .filter(totp_factors::confirmed_at.is_null())
                            .filter(totp_factors::interaction_id.eq(interaction)),
                    )
                    .set((
                        totp_factors::last_step.eq(Some(step)),
                        totp_factors::confirmed_at.eq(Some(now)),
                        totp_factors::interaction_id.eq(None::<String>),
                    ))
                    .execute(conn)?,
                    None => diesel::update(target.filter(totp_factors::confirmed_at.is_not_null()))
                        .set(totp_factors::last_step.eq(Some(step)))
                        .execute(conn)?,
                };
                if n == 1
                    && let Some((_, codes)) = confirm
                {
                    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&user))).execute(conn)?;
                    for hash in codes {
                        diesel::insert_into(recovery_codes::table)
                            .values((
                                recovery_codes::code_hash.eq(hash),
                                recovery_codes::user_id.eq(&user),
                                recovery_codes::created_at.eq(now),
                            ))
                            .execute(conn)?;
                    }
                }
                Ok(n == 1)
            })
        })
        .await
    }

    /// Spends a recovery code of the user. True exactly once per code.
    pub async fn use_recovery_code(&self, user: &UserId, hash: Vec<u8>, now: i64) -> Result<bool, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            let n = diesel::update(
                recovery_codes::table
                    .find(hash)
                    .filter(recovery_codes::user_id.eq(user))
                    .filter(recovery_codes::used_at.is_null()),
            )
            .set(recovery_codes::used_at.eq(Some(now)))
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
    }

    /// Recovery codes the user has left.
    pub async fn recovery_codes_left(&self, user: &UserId) -> Result<i64, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            Ok(recovery_codes::table
                .filter(recovery_codes::user_id.eq(user))
                .filter(recovery_codes::used_at.is_null())
                .count()
                .get_result(conn)?)
        })
        .await
    }

    /// Writes one entry of the audit log.
    pub async fn audit(
        &self,
        kind: &str,
        user: Option<&UserId>,
        client: Option<&str>,
        detail: serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let row = (
            audit_log::id.eq(domain::ids::sortable_id()),
            audit_log::created_at.eq(now),
            audit_log::kind.eq(kind.to_owned()),
            audit_log::user_id.eq(user.map(UserId::to_string)),
            audit_log::client_id.eq(client.map(str::to_owned)),
            audit_log::detail.eq(detail.to_string()),
        );
        self.run(move |conn| {
            diesel::insert_into(audit_log::table).values(row).execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The newest audit entries about a user: (kind, detail JSON, time).
    pub async fn audit_of(&self, user: &UserId, limit: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            Ok(audit_log::table
                .filter(audit_log::user_id.eq(user))
                .order((audit_log::created_at.desc(), audit_log::id.desc()))
                .limit(limit)
                .select((audit_log::kind, audit_log::detail, audit_log::created_at))
                .load(conn)?)
        })
        .await
    }
}
