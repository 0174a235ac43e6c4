-- The earliest auth_time the authorization request accepts (from max_age and prompt=login):
-- tokens are never minted from a code whose login is older (OIDC Core §3.1.2.1).
ALTER TABLE authorization_codes ADD COLUMN auth_after BIGINT;
-- Whether the grant ends with the session it was issued in (sign-out, a new login): the
-- authorization server decides (a grant without offline_access does, OIDC Core §11); the store
-- only keeps the answer. Grants issued before were decided by their scope.
ALTER TABLE authorization_codes ADD COLUMN ends_with_session BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE authorization_codes SET ends_with_session = (scope NOT LIKE '%offline_access%');
