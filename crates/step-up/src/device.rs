//! The device cookie: a long-lived random id, signed (HMAC under the server key) so a value that
//! was not issued here is ignored, `HttpOnly`, `SameSite=Lax`, and under https `Secure` with the
//! `__Host-` prefix. A device becomes "known" to an account after a successful sign-in on it; the
//! store keeps only a keyed hash of the id.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::StepUpService;

pub(crate) struct Device {
    id: String,
}

fn name(https: bool) -> &'static str {
    if https { "__Host-ostiary-device" } else { "ostiary-device" }
}

fn signature(svc: &StepUpService, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(&svc.hasher.hash("device-cookie", id).0[..16])
}

/// This request's device: from a validly signed cookie, or a new one.
pub(crate) fn read(svc: &StepUpService, req: &HttpRequest) -> Device {
    let from_cookie = req.cookie(name(svc.config.https)).and_then(|c| {
        let (id, sig) = c.value().split_once('.')?;
        let valid = id.len() <= 64 && domain::secret::constant_time_eq(sig.as_bytes(), signature(svc, id).as_bytes());
        valid.then(|| id.to_owned())
    });
    Device { id: from_cookie.unwrap_or_else(|| domain::secret::random_token(16)) }
}

impl Device {
    /// The keyed hash the store knows the device by.
    pub(crate) fn hash(&self, svc: &StepUpService) -> Vec<u8> {
        svc.hasher.hash("device", &self.id).0
    }

    pub(crate) fn cookie(&self, svc: &StepUpService) -> Cookie<'static> {
        Cookie::build(name(svc.config.https), format!("{}.{}", self.id, signature(svc, &self.id)))
            .path("/")
            .http_only(true)
            .secure(svc.config.https)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(svc.config.device_cookie_ttl))
            .finish()
    }
}
