//! Signing keys: created on first start, sealed at rest under the master key, rotated by
//! `ostiary keys rotate` (or a configured period). A rotated-in key is published [`PUBLISH_AHEAD`]
//! seconds before it signs anything, and a retired key stays in the JWKS until every token it
//! signed has expired, so verifiers (and other nodes) never meet a `kid` they cannot resolve.
//!
//! A stored key's `created_at` is the moment it starts signing; `retired_at` the moment it stops.

use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secret::{Sealer, random_token};
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};

use crate::storage::{KeyStore, StoredKey};

/// How long a new key is published before it signs: the JWKS may be cached for 60 s and every node
/// reloads its keys within 60 s.
pub const PUBLISH_AHEAD: i64 = 120;

/// The JWS algorithms Ostiary signs with (RFC 7518 §3.1, RFC 8037 §3.1).
pub use domain::SigningAlg as Alg;

/// openidconnect's name for an algorithm (for `at_hash` and discovery).
pub fn core_alg(alg: Alg) -> CoreJwsSigningAlgorithm {
    match alg {
        Alg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Alg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        Alg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("signing key {0} cannot be opened: is this the master key that created it?")]
    Open(String),
    #[error("signing failed")]
    Sign,
    #[error(transparent)]
    Store(#[from] domain::StorageError),
}

enum Pair {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed(signature::Ed25519KeyPair),
}

/// A parsed key, ready to sign without re-parsing (parsing an RSA key costs more than signing).
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub jwk: CoreJsonWebKey,
    public: Vec<u8>,
    pair: Pair,
}

impl SigningKey {
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig).map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ec(kp) => Ok(kp.sign(&rng, message).map_err(|_| KeyError::Sign)?.as_ref().to_vec()),
            Pair::Ed(kp) => Ok(kp.sign(message).as_ref().to_vec()),
        }
    }

    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Alg::EdDSA => &signature::ED25519,
        };
        signature::UnparsedPublicKey::new(alg, &self.public).verify(message, sig).is_ok()
    }
}

/// Creates a new key of `alg`, returned sealed for storage.
pub fn generate_key(alg: Alg, sealer: &Sealer, now: i64) -> Result<StoredKey, KeyError> {
    let rng = SystemRandom::new();
    let pkcs8: Vec<u8> = match alg {
        Alg::RS256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| KeyError::Generate)?
            .as_der()
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        Alg::ES256 => signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        Alg::EdDSA => {
            signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate)?.as_ref().to_vec()
        }
    };
    let kid = random_token(12);
    let pair = parse_pair(alg, &pkcs8).map_err(|_| KeyError::Generate)?;
    let jwk = public_jwk(alg, &kid, &pair);
    Ok(StoredKey {
        sealed_private: sealer.seal(kid.as_bytes(), &pkcs8),
        kid,
        alg,
        public_jwk: jwk.to_string(),
        created_at: now,
        retired_at: None,
    })
}

fn parse_pair(alg: Alg, pkcs8: &[u8]) -> Result<Pair, ()> {
    Ok(match alg {
        Alg::RS256 => Pair::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| ())?),
        Alg::ES256 => Pair::Ec(
            signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(|_| ())?,
        ),
        Alg::EdDSA => Pair::Ed(signature::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| ())?),
    })
}

fn public_bytes(pair: &Pair) -> Vec<u8> {
    match pair {
        Pair::Rsa(kp) => kp.public_key().as_ref().to_vec(),
        Pair::Ec(kp) => kp.public_key().as_ref().to_vec(),
        Pair::Ed(kp) => kp.public_key().as_ref().to_vec(),
    }
}

/// The public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
fn public_jwk(alg: Alg, kid: &str, pair: &Pair) -> serde_json::Value {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match pair {
        Pair::Rsa(kp) => {
            let public = kp.public_key();
            serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": alg.as_str(), "kid": kid,
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
            })
        }
        Pair::Ec(kp) => {
            // Uncompressed SEC1 point: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
            let point = kp.public_key().as_ref();
            serde_json::json!({
                "kty": "EC", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "P-256",
                "x": b64(&point[1..33]), "y": b64(&point[33..65]),
            })
        }
        Pair::Ed(kp) => serde_json::json!({
            "kty": "OKP", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "Ed25519",
            "x": b64(kp.public_key().as_ref()),
        }),
    }
}

/// Every stored key, parsed. Newest first.
pub struct KeyRing {
    keys: Vec<SigningKey>,
    /// The JWKS as served: its bytes, and the time span (and retention) they are right for.
    jwks: std::sync::Mutex<Option<CachedJwks>>,
    /// SHA-256 digests of the tokens whose signature this ring has verified ([`KeyRing::verified`]).
    verified: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
}

/// Signatures remembered at most; past it the set starts over (a few hundred KiB).
const VERIFIED_MAX: usize = 8192;

struct CachedJwks {
    from: i64,
    until: i64,
    retention: i64,
    body: actix_web::web::Bytes,
}

impl KeyRing {
    /// Opens stored keys (unsealing and parsing each once).
    pub fn open(stored: Vec<StoredKey>, sealer: &Sealer) -> Result<Self, KeyError> {
        let mut keys = Vec::with_capacity(stored.len());
        for k in stored {
            let alg = k.alg;
            let pkcs8 = sealer.open(k.kid.as_bytes(), &k.sealed_private).map_err(|_| KeyError::Open(k.kid.clone()))?;
            let pair = parse_pair(alg, &pkcs8).map_err(|_| KeyError::Open(k.kid.clone()))?;
            let jwk: CoreJsonWebKey = serde_json::from_str(&k.public_jwk).map_err(|_| KeyError::Open(k.kid.clone()))?;
            keys.push(SigningKey {
                public: public_bytes(&pair),
                kid: k.kid,
                alg,
                created_at: k.created_at,
                retired_at: k.retired_at,
                jwk,
                pair,
            });
        }
        Ok(Self { keys, jwks: std::sync::Mutex::new(None), verified: Default::default() })
    }

    /// Whether `verify` holds for a token whose signature this ring has checked before: a bearer
    /// token comes back at every call, and an ES256 signature costs ~60 µs to check, more than the
    /// rest of a `/userinfo` call. The token is known by the SHA-256 of all its bytes, so only the
    /// very token verified before is taken; the caller still checks its header, key, and claims
    /// each time. The ring is replaced whenever the keys change, and this memory with it.
    pub(crate) fn verified(&self, token: &[u8], verify: impl FnOnce() -> bool) -> bool {
        let digest: [u8; 32] = match aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token).as_ref().try_into() {
            Ok(d) => d,
            Err(_) => return verify(),
        };
        if self.verified.lock().is_ok_and(|seen| seen.contains(&digest)) {
            return true;
        }
        if !verify() {
            return false;
        }
        if let Ok(mut seen) = self.verified.lock() {
            if seen.len() >= VERIFIED_MAX {
                seen.clear();
            }
            seen.insert(digest);
        }
        true
    }

    /// The key that signs new tokens of `alg` at `now`: the newest one whose signing period has
    /// begun and not ended.
    pub fn active(&self, alg: Alg, now: i64) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.alg == alg && k.created_at <= now && k.retired_at.is_none_or(|r| r > now))
    }

    /// When the newest key of `alg` starts (or started) signing.
    fn newest_start(&self, alg: Alg) -> Option<i64> {
        self.keys.iter().filter(|k| k.alg == alg).map(|k| k.created_at).max()
    }

    /// Keys in the JWKS: active ones, and retired ones whose tokens may still be alive.
    pub fn published(&self, now: i64, retention: i64) -> impl Iterator<Item = &SigningKey> {
        self.keys.iter().filter(move |k| k.retired_at.is_none_or(|r| r + retention > now))
    }

    /// The JWKS document (RFC 7517 §5) of the keys published at `now`, serialised once and served
    /// as the same bytes until a retired key drops out of it.
    pub fn jwks(&self, now: i64, retention: i64) -> actix_web::web::Bytes {
        let mut cache = self.jwks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.as_ref().filter(|c| c.retention == retention && c.from <= now && now < c.until) {
            return c.body.clone();
        }
        let keys: Vec<&CoreJsonWebKey> = self.published(now, retention).map(|k| &k.jwk).collect();
        let body: actix_web::web::Bytes =
            serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap_or_default().into();
        // The set changes next when a retired key's retention ends.
        let until = self.keys.iter().filter_map(|k| k.retired_at.map(|r| r + retention)).filter(|t| *t > now).min();
        *cache = Some(CachedJwks { from: now, until: until.unwrap_or(i64::MAX), retention, body: body.clone() });
        body
    }

    /// A key that may verify a token now (published keys only).
    pub fn verifying(&self, kid: &str, now: i64, retention: i64) -> Option<&SigningKey> {
        self.published(now, retention).find(|k| k.kid == kid)
    }
}

/// The key ring shared by all workers, reloaded from the database so rotations made by another
/// node or by the CLI are picked up.
pub struct Keys {
    ring: RwLock<Arc<KeyRing>>,
    store: Arc<dyn KeyStore>,
    sealer: Sealer,
}

impl Keys {
    /// Loads the keys, creating one of each algorithm on first start.
    pub async fn load(store: Arc<dyn KeyStore>, sealer: Sealer, now: i64) -> Result<Self, KeyError> {
        let mut stored = store.signing_keys().await?;
        let missing: Vec<Alg> =
            Alg::ALL.into_iter().filter(|a| !stored.iter().any(|k| k.alg == *a && k.retired_at.is_none())).collect();
        if !missing.is_empty() {
            let new: Vec<StoredKey> =
                missing.iter().map(|a| generate_key(*a, &sealer, now)).collect::<Result<_, _>>()?;
            store.insert_signing_keys(new).await?;
            stored = store.signing_keys().await?;
            tracing::info!(created = missing.len(), "created signing keys");
        }
        let ring = KeyRing::open(stored, &sealer)?;
        Ok(Self { ring: RwLock::new(Arc::new(ring)), store, sealer })
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().map(|r| Arc::clone(&r)).unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    pub async fn reload(&self) -> Result<(), KeyError> {
        let ring = KeyRing::open(self.store.signing_keys().await?, &self.sealer)?;
        match self.ring.write() {
            Ok(mut r) => *r = Arc::new(ring),
            Err(p) => *p.into_inner() = Arc::new(ring),
        }
        Ok(())
    }

    /// Publishes a new key of every algorithm now; [`PUBLISH_AHEAD`] seconds later the new keys
    /// start signing and the current ones retire.
    pub async fn rotate(&self, now: i64) -> Result<Vec<String>, KeyError> {
        let switch_at = now + PUBLISH_AHEAD;
        let new: Vec<StoredKey> =
            Alg::ALL.iter().map(|a| generate_key(*a, &self.sealer, switch_at)).collect::<Result<_, _>>()?;
        let kids = new.iter().map(|k| k.kid.clone()).collect();
        self.store.rotate_signing_keys(new, switch_at).await?;
        self.reload().await?;
        Ok(kids)
    }

    /// Rotates when the newest key is older than `period` seconds (0 = never).
    pub async fn rotate_if_due(&self, now: i64, period: i64) -> Result<bool, KeyError> {
        if period <= 0 {
            return Ok(false);
        }
        // Read the database first: another node may have rotated already.
        self.reload().await?;
        let newest = self.ring().newest_start(Alg::RS256).unwrap_or(0);
        if now - newest < period {
            return Ok(false);
        }
        self.rotate(now).await?;
        Ok(true)
    }
}
