-- The earliest auth_time the authorization request accepts (from max_age and prompt=login):
-- tokens are never minted from a code whose login is older (OIDC Core §3.1.2.1).
ALTER TABLE authorization_codes ADD COLUMN auth_after BIGINT;
