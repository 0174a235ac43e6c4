//! The web layer the protocol crates share, so each rule about requests and pages lives once:
//! - what the server's middleware established about a request, read through extractors
//!   ([`RequestOrigin`], [`BrowserBinding`], [`Lang`], [`CsrfToken`]);
//! - one page renderer ([`Page`]) that sets the Content-Security-Policy, `Cache-Control: no-store`
//!   and the language of every HTML page, and one [`see_other`];
//! - one rule for what a failure on our side answers ([`failure_status`]: 503 with `Retry-After`
//!   while the database is away, 500 otherwise);
//! - the kind of every route ([`Endpoint`]): the server derives the CSRF exemption and CORS from it;
//! - the paths crates send users to each other on ([`paths`]), since they never import each other.
#![forbid(unsafe_code)]

mod agent;
mod failure;
mod page;
pub mod paths;
mod request;
mod routes;

pub use agent::{describe_device, describe_user_agent};
pub use failure::{RETRY_AFTER_SECONDS, failure_status, retry_later};
pub use page::{Page, content_security_policy, content_security_policy_with, origin_of, see_other};
pub use request::{
    BrowserBinding, ClientCountry, CsrfToken, Lang, RequestId, RequestOrigin, plain_media_type, user_agent,
};
pub use routes::{Endpoint, EndpointKinds, Kind, first_segment, mount};
