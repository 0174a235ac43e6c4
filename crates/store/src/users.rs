use diesel::prelude::*;
use domain::{EmailAddress, PhoneNumber, StorageError, UserId};

use crate::schema::users;
use crate::{Store, StoreError};

pub use domain::User;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) email: Option<String>,
    email_verified: bool,
    created_at: i64,
    pub(crate) phone: Option<String>,
    phone_verified: bool,
    profile: String,
    updated_at: i64,
    is_admin: bool,
    version: i64,
    blocked_at: Option<i64>,
    linked_to: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::parse(&self.id).ok_or_else(|| StoreError::Corrupt("user id".into()))?,
            email: self
                .email
                .as_deref()
                .map(EmailAddress::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            email_verified: self.email_verified,
            created_at: self.created_at,
            phone: self
                .phone
                .as_deref()
                .map(|p| PhoneNumber::parse(p, None))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            phone_verified: self.phone_verified,
            profile: crate::from_json(&self.profile, "user profile")?,
            updated_at: self.updated_at,
            is_admin: self.is_admin,
            version: self.version,
            blocked_at: self.blocked_at,
            linked_to: self
                .linked_to
                .as_deref()
                .map(|l| crate::parse_id(UserId::parse, l, "linked account"))
                .transpose()?,
        })
    }

    fn new(email: Option<String>, phone: Option<String>, now: i64) -> Self {
        UserRow {
            id: UserId::generate().to_string(),
            email_verified: email.is_some(),
            phone_verified: phone.is_some(),
            email,
            phone,
            created_at: now,
            profile: "{}".into(),
            updated_at: now,
            is_admin: false,
            version: 1,
            blocked_at: None,
            linked_to: None,
        }
    }

    /// The row of an account an admin creates.
    pub(crate) fn of(user: &admin::storage::NewUser, now: i64) -> Self {
        UserRow {
            id: UserId::generate().to_string(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            email_verified: user.email_verified && user.email.is_some(),
            phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
            phone_verified: user.phone_verified && user.phone.is_some(),
            created_at: now,
            profile: crate::to_json(&user.profile),
            updated_at: now,
            is_admin: user.is_admin,
            version: 1,
            blocked_at: None,
            linked_to: None,
        }
    }
}

/// What changing a user's contact details can run into.
#[derive(Debug, thiserror::Error)]
pub enum UserUpdateError {
    #[error("no such user")]
    NotFound,
    #[error("another account already uses this {0}")]
    Taken(&'static str),
    #[error("an account needs an email address or a phone number")]
    NoContact,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for UserUpdateError {
    fn from(e: diesel::result::Error) -> Self {
        UserUpdateError::Store(e.into())
    }
}

/// A change to a user's record; `None` leaves a field as it is (the admin crate's type: one
/// change path for the CLI and the admin API).
pub use admin::storage::UserChange as UserUpdate;

pub use passwordless_connection::storage::SignIn;

/// What a sign-in proved control of.
pub(crate) enum Proof {
    Email(String),
    Phone(String),
}

/// The account a proved identity signs in as: a linked account's primary (one `sub`), unless the
/// linked account itself is blocked, whose block then applies.
fn signs_in_as(conn: &mut crate::DbConnection, user: User) -> Result<User, StoreError> {
    let primary = match &user.linked_to {
        Some(primary) if !user.is_blocked() => user_in(conn, primary.as_str())?,
        _ => None,
    };
    Ok(primary.unwrap_or(user))
}

/// `user.created` for an account made outside the admin's paths (whose audit entries say it).
fn created_event(conn: &mut crate::DbConnection, row: &UserRow, source: &str, now: i64) -> Result<(), StoreError> {
    let detail = serde_json::json!({ "email": row.email, "phone_number": row.phone });
    let fact = crate::events::Fact { user: Some(&row.id), client: None, source, detail, at: now };
    crate::events::emit_in(conn, domain::events::EventType::UserCreated, &fact)
}

/// The account of a proved address or number, found (and marked verified) or made when `create`,
/// on `conn`, inside the caller's transaction (every caller has one), so that the account and its
/// `user.created` event are made together.
pub(crate) fn sign_in_in(
    conn: &mut crate::DbConnection,
    proof: &Proof,
    create: bool,
    now: i64,
) -> Result<SignIn, StoreError> {
    if let Some(user) = proof.find(conn)? {
        let user = proof.mark_verified(conn, user)?;
        return Ok(SignIn::Existing(signs_in_as(conn, user)?));
    }
    if !create {
        return Ok(SignIn::NoAccount);
    }
    let row = match proof {
        Proof::Email(e) => UserRow::new(Some(e.clone()), None, now),
        Proof::Phone(p) => UserRow::new(None, Some(p.clone()), now),
    };
    // A first sign-in of the same address or number committed since the read above (another node,
    // or another PostgreSQL connection) makes this insert do nothing instead of failing: a unique
    // violation would abort PostgreSQL's transaction, and recovering from it took a savepoint, two
    // more round trips on every sign-up. PostgreSQL waits for the other insert to commit or roll
    // back before deciding; then the next read sees the winner's row (READ COMMITTED).
    let inserted = crate::db::execute(conn, diesel::insert_into(users::table).values(&row).on_conflict_do_nothing())?;
    if inserted == 1 {
        created_event(conn, &row, "sign_up", now)?;
        return Ok(SignIn::Created(row.into_user()?));
    }
    let user = proof.find(conn)?.ok_or_else(|| StoreError::Corrupt("user vanished".into()))?;
    Ok(SignIn::Existing(signs_in_as(conn, user)?))
}

impl Proof {
    /// The proof a spent challenge gives: its destination, as stored with its channel.
    pub(crate) fn of(channel: domain::Channel, destination: String) -> Proof {
        match channel {
            domain::Channel::Email => Proof::Email(destination),
            domain::Channel::Sms => Proof::Phone(destination),
        }
    }

    fn find(&self, conn: &mut crate::DbConnection) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = match self {
            Proof::Email(e) => crate::db::on_backend!(conn, |c| {
                users::table.select(UserRow::as_select()).filter(users::email.eq(e)).first(c).optional()
            })?,
            Proof::Phone(p) => crate::db::on_backend!(conn, |c| {
                users::table.select(UserRow::as_select()).filter(users::phone.eq(p)).first(c).optional()
            })?,
        };
        row.map(UserRow::into_user).transpose()
    }

    /// Marks the proved address or number verified.
    fn mark_verified(&self, conn: &mut crate::DbConnection, user: User) -> Result<User, StoreError> {
        let target = users::table.find(user.id.as_str());
        Ok(match self {
            Proof::Email(_) if !user.email_verified => {
                crate::cached::update(target, (users::email_verified.eq(true), users::version.eq(users::version + 1)))
                    .execute(conn)?;
                User { email_verified: true, version: user.version + 1, ..user }
            }
            Proof::Phone(_) if !user.phone_verified => {
                crate::cached::update(target, (users::phone_verified.eq(true), users::version.eq(users::version + 1)))
                    .execute(conn)?;
                User { phone_verified: true, version: user.version + 1, ..user }
            }
            _ => user,
        })
    }
}

/// The account `id`, read on `conn` (inside the caller's transaction when it has one).
pub(crate) fn user_in(conn: &mut crate::DbConnection, id: &str) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> =
        crate::db::on_backend!(conn, |c| users::table.find(id).select(UserRow::as_select()).first(c).optional())?;
    row.map(UserRow::into_user).transpose()
}

impl Store {
    pub async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let proof = Proof::Email(email.as_str().to_owned());
        self.read(move |conn| proof.find(conn)).await
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.as_str().to_owned();
        self.read(move |conn| user_in(conn, &id)).await
    }

    /// The user who just proved control of `email`: found, or created when `create` allows it.
    /// A successful sign-in by email marks the address verified. Two first sign-ins racing for one
    /// address end with one user: the loser's insert does nothing, and it reads the winner's row.
    async fn sign_in_by_email(&self, email: &EmailAddress, create: bool, now: i64) -> Result<SignIn, StoreError> {
        self.sign_in(Proof::Email(email.as_str().to_owned()), create, now).await
    }

    /// [`Store::sign_in_by_email`] for a phone number proved by a texted code.
    async fn sign_in_by_phone(&self, phone: &PhoneNumber, create: bool, now: i64) -> Result<SignIn, StoreError> {
        self.sign_in(Proof::Phone(phone.as_str().to_owned()), create, now).await
    }

    async fn sign_in(&self, proof: Proof, create: bool, now: i64) -> Result<SignIn, StoreError> {
        self.run(move |conn| conn.transaction(|conn| sign_in_in(conn, &proof, create, now))).await
    }

    /// Creates a user with a verified address (`ostiary user create`, later the admin).
    pub async fn create_user(&self, email: &EmailAddress, now: i64) -> Result<User, UserUpdateError> {
        let row = UserRow::new(Some(email.as_str().to_owned()), None, now);
        let made = move |conn: &mut crate::DbConnection| {
            conn.transaction(|conn| {
                crate::db::execute(conn, diesel::insert_into(users::table).values(&row))?;
                created_event(conn, &row, "cli", now)?;
                row.into_user()
            })
        };
        self.run(move |conn| match made(conn) {
            Ok(user) => Ok(Ok(user)),
            Err(StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => Ok(Err(UserUpdateError::Taken("email address"))),
            Err(e) => Err(e),
        })
        .await?
    }

    /// Applies `update` whatever the record's version (the CLI's edits), moving `updated_at` to
    /// `now` and the version on; all or nothing.
    pub async fn update_user(&self, id: &UserId, update: UserUpdate, now: i64) -> Result<User, UserUpdateError> {
        let id = id.clone();
        // The change and its `user.updated` event (source `cli`), together.
        let saved = self
            .run(move |conn| {
                conn.transaction(|conn| {
                    let saved = crate::admin::change(conn, &id, None, update, now, None)?;
                    if let admin::storage::Saved::Saved { after, .. } = &saved {
                        let fact = crate::events::Fact {
                            user: Some(after.id.as_str()),
                            client: None,
                            source: "cli",
                            detail: serde_json::json!({}),
                            at: now,
                        };
                        crate::events::emit_in(conn, domain::events::EventType::UserUpdated, &fact)?;
                    }
                    Ok::<_, StoreError>(saved)
                })
            })
            .await?;
        match saved {
            admin::storage::Saved::Saved { after, .. } => Ok(*after),
            admin::storage::Saved::NotFound | admin::storage::Saved::Stale(_) => Err(UserUpdateError::NotFound),
            admin::storage::Saved::Taken(admin::storage::Contact::Email) => {
                Err(UserUpdateError::Taken("email address"))
            }
            admin::storage::Saved::Taken(admin::storage::Contact::PhoneNumber) => {
                Err(UserUpdateError::Taken("phone number"))
            }
            admin::storage::Saved::NoContact => Err(UserUpdateError::NoContact),
        }
    }

    /// Users in creation order, `limit` at most.
    pub async fn users(&self, limit: i64) -> Result<Vec<User>, StoreError> {
        self.run(move |conn| {
            users::table
                .order((users::created_at.asc(), users::id.asc()))
                .limit(limit)
                .select(UserRow::as_select())
                .load(conn)?
                .into_iter()
                .map(UserRow::into_user)
                .collect()
        })
        .await
    }

    pub(crate) async fn user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, StoreError> {
        let proof = Proof::Phone(phone.as_str().to_owned());
        self.read(move |conn| proof.find(conn)).await
    }
}

#[async_trait::async_trait]
impl step_up::storage::AccountStore for Store {
    async fn user(&self, id: &UserId) -> Result<Option<User>, StorageError> {
        Ok(Store::user(self, id).await?)
    }

    async fn client(&self, id: &domain::ClientId) -> Result<Option<domain::Client>, StorageError> {
        Ok(Store::client(self, id).await?)
    }
}

#[async_trait::async_trait]
impl passwordless_connection::storage::AccountStore for Store {
    async fn sign_in_by_email(&self, email: &EmailAddress, create: bool, now: i64) -> Result<SignIn, StorageError> {
        Ok(Store::sign_in_by_email(self, email, create, now).await?)
    }

    async fn sign_in_by_phone(&self, phone: &PhoneNumber, create: bool, now: i64) -> Result<SignIn, StorageError> {
        Ok(Store::sign_in_by_phone(self, phone, create, now).await?)
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StorageError> {
        Ok(Store::user_by_email(self, email).await?)
    }

    async fn user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, StorageError> {
        Ok(Store::user_by_phone(self, phone).await?)
    }

    async fn client_branding(&self, client: &domain::ClientId) -> Result<Option<domain::Branding>, StorageError> {
        Ok(Store::client(self, client).await?.map(|c| c.settings.branding))
    }
}

#[async_trait::async_trait]
impl authorization_server::storage::UserStore for Store {
    async fn user(&self, id: &UserId) -> Result<Option<User>, StorageError> {
        Ok(Store::user(self, id).await?)
    }
}
