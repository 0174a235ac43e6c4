DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
DROP TABLE passkey_users;
