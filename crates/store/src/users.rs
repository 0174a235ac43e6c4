use diesel::prelude::*;
use domain::{EmailAddress, PhoneNumber, Profile, StorageError, UserId};

use crate::schema::users;
use crate::{Store, StoreError};

pub use domain::User;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: Option<String>,
    email_verified: bool,
    created_at: i64,
    phone: Option<String>,
    phone_verified: bool,
    profile: String,
    updated_at: i64,
}

impl UserRow {
    fn into_user(self) -> Result<User, StoreError> {
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for UserUpdateError {
    fn from(e: diesel::result::Error) -> Self {
        UserUpdateError::Store(e.into())
    }
}

/// A change to a user's record; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub profile: Option<Profile>,
    /// `Some(None)` removes the phone number.
    pub phone: Option<Option<PhoneNumber>>,
    pub phone_verified: Option<bool>,
}

pub use passwordless_connection::storage::SignIn;

/// What a sign-in proved control of.
enum Proof {
    Email(String),
    Phone(String),
}

impl Proof {
    fn find(&self, conn: &mut crate::DbConnection) -> Result<Option<User>, StoreError> {
        let query = users::table.select(UserRow::as_select());
        let row = match self {
            Proof::Email(e) => query.filter(users::email.eq(e)).first(conn).optional()?,
            Proof::Phone(p) => query.filter(users::phone.eq(p)).first(conn).optional()?,
        };
        row.map(UserRow::into_user).transpose()
    }

    /// Marks the proved address or number verified.
    fn mark_verified(&self, conn: &mut crate::DbConnection, user: User) -> Result<User, StoreError> {
        let target = users::table.find(user.id.as_str());
        Ok(match self {
            Proof::Email(_) if !user.email_verified => {
                diesel::update(target).set(users::email_verified.eq(true)).execute(conn)?;
                User { email_verified: true, ..user }
            }
            Proof::Phone(_) if !user.phone_verified => {
                diesel::update(target).set(users::phone_verified.eq(true)).execute(conn)?;
                User { phone_verified: true, ..user }
            }
            _ => user,
        })
    }
}

impl Store {
    pub async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let proof = Proof::Email(email.as_str().to_owned());
        self.run(move |conn| proof.find(conn)).await
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |conn| {
            users::table
                .find(id)
                .select(UserRow::as_select())
                .first(conn)
                .optional()?
                .map(UserRow::into_user)
                .transpose()
        })
        .await
    }

    /// The user who just proved control of `email`: found, or created when `create` allows it.
    /// A successful sign-in by email marks the address verified. Two first sign-ins racing for one
    /// address end with one user: the loser's insert hits the unique index and reads the winner's row.
    async fn sign_in_by_email(&self, email: &EmailAddress, create: bool, now: i64) -> Result<SignIn, StoreError> {
        self.sign_in(Proof::Email(email.as_str().to_owned()), create, now).await
    }

    /// [`Store::sign_in_by_email`] for a phone number proved by a texted code.
    async fn sign_in_by_phone(&self, phone: &PhoneNumber, create: bool, now: i64) -> Result<SignIn, StoreError> {
        self.sign_in(Proof::Phone(phone.as_str().to_owned()), create, now).await
    }

    async fn sign_in(&self, proof: Proof, create: bool, now: i64) -> Result<SignIn, StoreError> {
        self.run(move |conn| {
            if let Some(user) = proof.find(conn)? {
                return Ok(SignIn::Existing(proof.mark_verified(conn, user)?));
            }
            if !create {
                return Ok(SignIn::NoAccount);
            }
            let row = match &proof {
                Proof::Email(e) => UserRow::new(Some(e.clone()), None, now),
                Proof::Phone(p) => UserRow::new(None, Some(p.clone()), now),
            };
            match diesel::insert_into(users::table).values(&row).execute(conn) {
                Ok(_) => Ok(SignIn::Created(row.into_user()?)),
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    proof.find(conn)?.map(SignIn::Existing).ok_or_else(|| StoreError::Corrupt("user vanished".into()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Creates a user with a verified address (`ostiary user create`, later the admin).
    pub async fn create_user(&self, email: &EmailAddress, now: i64) -> Result<User, UserUpdateError> {
        let row = UserRow::new(Some(email.as_str().to_owned()), None, now);
        self.run(move |conn| match diesel::insert_into(users::table).values(&row).execute(conn) {
            Ok(_) => Ok(Ok(row.into_user()?)),
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                Ok(Err(UserUpdateError::Taken("email address")))
            }
            Err(e) => Err(e.into()),
        })
        .await?
    }

    /// Applies `update` and moves `updated_at` to `now`, all or nothing. A phone number is unique
    /// across accounts.
    pub async fn update_user(&self, id: &UserId, update: UserUpdate, now: i64) -> Result<User, UserUpdateError> {
        let id = id.as_str().to_owned();
        self.run(move |conn| {
            Ok(conn.transaction(|conn| -> Result<User, UserUpdateError> {
                let target = users::table.find(&id);
                if diesel::update(target).set(users::updated_at.eq(now)).execute(conn)? == 0 {
                    return Err(UserUpdateError::NotFound);
                }
                if let Some(profile) = &update.profile {
                    diesel::update(target).set(users::profile.eq(crate::to_json(profile))).execute(conn)?;
                }
                if let Some(phone) = &update.phone {
                    let phone = phone.as_ref().map(|p| p.as_str().to_owned());
                    let verified = update.phone_verified.unwrap_or(false) && phone.is_some();
                    diesel::update(target)
                        .set((users::phone.eq(phone), users::phone_verified.eq(verified)))
                        .execute(conn)
                        .map_err(|e| match e {
                            diesel::result::Error::DatabaseError(
                                diesel::result::DatabaseErrorKind::UniqueViolation,
                                _,
                            ) => UserUpdateError::Taken("phone number"),
                            e => e.into(),
                        })?;
                } else if let Some(verified) = update.phone_verified {
                    diesel::update(target.filter(users::phone.is_not_null()))
                        .set(users::phone_verified.eq(verified))
                        .execute(conn)?;
                }
                Ok(users::table.find(&id).select(UserRow::as_select()).first(conn)?.into_user()?)
            }))
        })
        .await?
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

    async fn user_by_phone(&self, phone: &PhoneNumber) -> Result<Option<User>, StoreError> {
        let proof = Proof::Phone(phone.as_str().to_owned());
        self.run(move |conn| proof.find(conn)).await
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
