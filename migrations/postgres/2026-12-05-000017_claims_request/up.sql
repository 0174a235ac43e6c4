-- The `claims` parameter (OIDC Core §5.5): the user claims an authorization request asked for by
-- name, kept with its code and its refresh tokens so that every ID token and userinfo answer of
-- the grant releases them. JSON; NULL when the request asked for none.
ALTER TABLE authorization_codes ADD COLUMN claims TEXT;
ALTER TABLE refresh_tokens ADD COLUMN claims TEXT;
