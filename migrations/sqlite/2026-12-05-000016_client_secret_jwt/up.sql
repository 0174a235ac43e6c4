-- client_secret_jwt (OIDC Core §9): the server must compute the HMAC the client computed with its
-- secret, so a client registered for it also keeps its secret (and the previous one, during a
-- rotation's grace period) sealed with a key derived from the master key (AES-256-GCM, bound to
-- the client id). Every other client keeps only the keyed hash.
ALTER TABLE clients ADD COLUMN secret_sealed BLOB;
ALTER TABLE clients ADD COLUMN previous_secret_sealed BLOB;
