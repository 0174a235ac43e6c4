-- DPoP (RFC 9449): the JWK SHA-256 thumbprint (RFC 7638) a code is bound to (`dpop_jkt` at
-- /authorize, §10) and a public client's refresh tokens are bound to (§5); NULL when unbound.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
