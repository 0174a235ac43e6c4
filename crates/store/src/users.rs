use diesel::prelude::*;
use domain::{EmailAddress, UserId};

use crate::schema::users;
use crate::{Store, StoreError};

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: Option<EmailAddress>,
    pub email_verified: bool,
    pub created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    email: Option<String>,
    email_verified: bool,
    created_at: i64,
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
        })
    }
}

/// What [`Store::sign_in_by_email`] found or did.
#[derive(Clone, Debug)]
pub enum EmailSignIn {
    Existing(User),
    Created(User),
    /// No account has this address and sign-ups are off.
    NoAccount,
}

impl Store {
    pub async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let email = email.as_str().to_owned();
        self.run(move |conn| {
            users::table
                .filter(users::email.eq(email))
                .select(UserRow::as_select())
                .first(conn)
                .optional()?
                .map(UserRow::into_user)
                .transpose()
        })
        .await
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
    pub async fn sign_in_by_email(
        &self,
        email: &EmailAddress,
        create: bool,
        now: i64,
    ) -> Result<EmailSignIn, StoreError> {
        let email = email.as_str().to_owned();
        self.run(move |conn| {
            let find = |conn: &mut crate::DbConnection| -> Result<Option<User>, StoreError> {
                users::table
                    .filter(users::email.eq(&email))
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?
                    .map(UserRow::into_user)
                    .transpose()
            };
            if let Some(user) = find(conn)? {
                if !user.email_verified {
                    diesel::update(users::table.find(user.id.as_str()))
                        .set(users::email_verified.eq(true))
                        .execute(conn)?;
                }
                return Ok(EmailSignIn::Existing(User { email_verified: true, ..user }));
            }
            if !create {
                return Ok(EmailSignIn::NoAccount);
            }
            let row = UserRow {
                id: UserId::generate().to_string(),
                email: Some(email.clone()),
                email_verified: true,
                created_at: now,
            };
            match diesel::insert_into(users::table).values(&row).execute(conn) {
                Ok(_) => Ok(EmailSignIn::Created(row.into_user()?)),
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    find(conn)?.map(EmailSignIn::Existing).ok_or_else(|| StoreError::Corrupt("user vanished".into()))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}
