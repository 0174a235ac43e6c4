-- OpenID Connect Registration §2: web or native; native loopback redirect URIs match any port (RFC 8252 §7.3).
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT 'web';
