//! Secrets: random generation, keyed hashing for storage, constant-time comparison, sealing at rest.
//!
//! Codes, link tokens, authorization codes, refresh tokens and session ids are stored only as
//! HMAC-SHA256 under a server key ([`KeyedHasher`]); private signing keys are sealed with AES-256-GCM
//! under a key derived from the same [`MasterKey`].

use aws_lc_rs::{aead, hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::{Rng, RngExt};
use subtle::ConstantTimeEq;

/// A secret string whose `Debug` never prints it. Configuration files deserialise into it directly.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `bytes` bytes from the CSPRNG, base64url without padding. 16 bytes = 128 bits.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A uniformly random decimal code of `digits` digits (leading zeros kept), from the CSPRNG.
pub fn numeric_code(digits: usize) -> String {
    let mut rng = rand::rng();
    (0..digits).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// `len` characters drawn uniformly from `alphabet` by the CSPRNG (`random_range` rejects the
/// values that would make a modulo biased).
pub fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// Constant-time equality for secrets of any length (the length itself is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The one server secret everything else is derived from (HKDF-SHA256, RFC 5869).
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 32 bytes, base64-encoded (generate one with `openssl rand -base64 32`)")]
    Malformed,
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(key)
    }

    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim()))
            .map_err(|_| MasterKeyError::Malformed)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(key))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"ostiary");
        let prk = salt.extract(&self.0);
        let info = [purpose];
        let okm = prk.expand(&info, hkdf::HKDF_SHA256).expect("32 bytes is a valid HKDF-SHA256 length");
        let mut out = [0u8; 32];
        okm.fill(&mut out).expect("32 bytes is a valid HKDF-SHA256 length");
        out
    }

    pub fn hasher(&self) -> KeyedHasher {
        KeyedHasher(hmac::Key::new(hmac::HMAC_SHA256, &self.derive(b"token-hash")))
    }

    /// Seals private signing keys.
    pub fn sealer(&self) -> Sealer {
        Sealer(self.derive(b"seal-at-rest"))
    }

    /// Seals queued message bodies (a key of their own, so the two never share ciphertext space).
    pub fn message_sealer(&self) -> Sealer {
        Sealer(self.derive(b"seal-messages"))
    }

    /// Seals the secrets of `client_secret_jwt` clients, which the server must read back.
    pub fn client_secret_sealer(&self) -> Sealer {
        Sealer(self.derive(b"seal-client-secrets"))
    }

    /// Seals second-factor secrets (authenticator apps).
    pub fn factor_sealer(&self) -> Sealer {
        Sealer(self.derive(b"seal-factors"))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// The keyed hash under which secrets are stored and looked up.
#[derive(Clone)]
pub struct KeyedHasher(hmac::Key);

/// HMAC-SHA256 of a secret, domain-separated by purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(pub Vec<u8>);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash([redacted])")
    }
}

impl TokenHash {
    pub fn matches(&self, other: &TokenHash) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl KeyedHasher {
    /// `purpose` keeps a code from one place from ever matching a hash stored in another.
    pub fn hash(&self, purpose: &str, secret: &str) -> TokenHash {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(secret.as_bytes());
        TokenHash(ctx.sign().as_ref().to_vec())
    }
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher([redacted])")
    }
}

/// AES-256-GCM for secrets that must be read back (private signing keys).
#[derive(Clone)]
pub struct Sealer([u8; 32]);

#[derive(Debug, thiserror::Error)]
#[error("sealed data could not be opened: wrong master key or corrupted data")]
pub struct OpenError;

impl Sealer {
    /// Returns nonce ‖ ciphertext ‖ tag. `aad` binds the ciphertext to its row (e.g. the key id).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let key =
            aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &self.0).expect("32-byte AES-256 key"));
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(aad), &mut in_out)
            .expect("AES-GCM sealing cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        out
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < aead::NONCE_LEN {
            return Err(OpenError);
        }
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &self.0).map_err(|_| OpenError)?);
        let (nonce, body) = sealed.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut in_out = body.to_vec();
        let plain = key.open_in_place(nonce, aead::Aad::from(aad), &mut in_out).map_err(|_| OpenError)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_requested_length_and_only_digits() {
        for _ in 0..200 {
            let code = numeric_code(6);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn tokens_carry_at_least_128_bits() {
        let token = random_token(16);
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 16);
        assert_ne!(token, random_token(16));
    }

    #[test]
    fn keyed_hashes_depend_on_key_and_purpose() {
        let a = MasterKey::generate().hasher();
        let b = MasterKey::generate().hasher();
        assert!(a.hash("code", "123456").matches(&a.hash("code", "123456")));
        assert!(!a.hash("code", "123456").matches(&b.hash("code", "123456")));
        assert!(!a.hash("code", "123456").matches(&a.hash("link", "123456")));
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_aad() {
        let key = MasterKey::generate();
        let sealed = key.sealer().seal(b"kid-1", b"private");
        assert_eq!(key.sealer().open(b"kid-1", &sealed).unwrap(), b"private");
        assert!(key.sealer().open(b"kid-2", &sealed).is_err());
        assert!(MasterKey::generate().sealer().open(b"kid-1", &sealed).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Secret::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
