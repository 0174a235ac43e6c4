//! What a failure on our side answers, one rule for every crate. The database being away (it
//! cannot be reached, the pool timed out, a connection broke mid-query) is **503** with
//! `Retry-After`: trying again shortly may work, and load balancers and clients know to. Anything
//! else (stored data that cannot be read, a bug) stays **500**. Either way the cause goes to the
//! log only.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use domain::StorageError;

/// `Retry-After` of a 503, in seconds: about what a database restart or a failover takes.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// The status for `err`: 503 when it is, or was caused by, [`StorageError::Unavailable`]; else 500.
pub fn failure_status(err: &(dyn std::error::Error + 'static)) -> StatusCode {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(StorageError::Unavailable(_)) = e.downcast_ref::<StorageError>() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        cause = e.source();
    }
    StatusCode::INTERNAL_SERVER_ERROR
}

/// Adds `Retry-After` to a 503 that does not say when to come back (a limit's own wait is kept).
pub fn retry_later(resp: &mut HttpResponse) {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE && !resp.headers().contains_key(header::RETRY_AFTER) {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(StorageError);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("while doing something")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_database_being_away_is_503_and_corrupt_data_is_500() {
        let away = StorageError::Unavailable("connection refused".into());
        assert_eq!(failure_status(&away), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failure_status(&Wrapper(away)), StatusCode::SERVICE_UNAVAILABLE, "found in the cause chain");
        let corrupt = StorageError::Corrupt("bad json".into());
        assert_eq!(failure_status(&corrupt), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failure_status(&std::fmt::Error), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_503_says_when_to_come_back_without_overriding_a_limit() {
        let mut resp = HttpResponse::ServiceUnavailable().finish();
        retry_later(&mut resp);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "5");
        let mut limited = HttpResponse::ServiceUnavailable().insert_header((header::RETRY_AFTER, "60")).finish();
        retry_later(&mut limited);
        assert_eq!(limited.headers().get(header::RETRY_AFTER).unwrap(), "60");
        let mut broken = HttpResponse::InternalServerError().finish();
        retry_later(&mut broken);
        assert!(!broken.headers().contains_key(header::RETRY_AFTER));
    }
}
