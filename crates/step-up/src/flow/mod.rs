//! The step-up pages, in order: `assess` weighs the sign-in (signals → decision, written to the
//! audit log) and goes on, asks for a factor, sends the user to enrol, or refuses; `factors` and
//! `enroll` check a second factor; `finish` completes the interaction for the authorization server,
//! records the sign-in in the history, remembers the device and sends the new-sign-in email.

mod assess;
mod enroll;
mod factors;
mod finish;
mod passkey;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use domain::audit::AuditEntry;
use domain::counters::Decision as Limit;
use domain::{DenyReason, Interaction, InteractionId, LoginResult, User};
use serde::Deserialize;
use web_layer::{BrowserBinding, Lang, Page, paths, see_other};

pub use assess::start;
pub(crate) use assess::{Asked, Place, after_first_factor, observe};
pub use enroll::{enroll, enroll_page};
pub(crate) use factors::factors;
pub use factors::{code, send, totp};
pub(crate) use finish::{SignedIn, record};
pub use passkey::{key, key_options, offer, offer_created, offer_options, offer_skipped};

use crate::StepUpService;
use crate::device::Device;
use crate::policy::Reason;
use crate::storage::{Door, StepUpAudit};

/// A sign-in waiting for step-up, in the browser that started it.
pub struct Pending {
    interaction: Interaction,
    first: LoginResult,
    user: User,
    lang: String,
}

impl Pending {
    /// An audit entry about this sign-in.
    fn audit(&self, what: StepUpAudit, at: i64) -> AuditEntry<StepUpAudit> {
        AuditEntry { what, user: Some(self.user.id.clone()), client: Some(self.interaction.client_id.clone()), at }
    }

    /// The product name of this sign-in: the client's branding, or the operator's.
    fn product<'a>(&'a self, svc: &'a StepUpService) -> &'a str {
        self.interaction.client_settings.branding.product_name.as_deref().unwrap_or(&svc.config.product_name)
    }

    /// A page of this sign-in, in its client's branding. Its forms end in a redirect to the
    /// client, whose origin CSP `form-action` must allow (browsers apply it to those redirects).
    fn page<'a>(&'a self, svc: &'a StepUpService, req: &HttpRequest) -> Page<'a> {
        let i = &self.interaction;
        Page::new(req, &svc.tera, &svc.catalog, &self.lang)
            .branded(&i.client_id, &i.client_settings.branding, &svc.config.product_name)
            .ending_at(i.redirect_uri.as_deref())
    }

    /// Step-up's own page for this sign-in.
    fn step_up_page(&self) -> HttpResponse {
        see_other(&paths::step_up(&self.interaction.id))
    }
}

/// Why a step-up page cannot go on; each is a page whose texts are the catalog's `{key}_title`
/// and `{key}_text`.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The sign-in is over, unknown, or not waiting for step-up.
    Expired,
    /// The sign-in was started in another browser.
    DifferentBrowser,
    /// The counters or the code channel cannot be reached: nothing is checked, nothing passes.
    Paused,
    /// The storage failed (logged, with what was being done), and the status that says so: 503
    /// while the database is away, else 500 ([`web_layer::failure_status`]).
    Unavailable(&'static str, String, StatusCode),
}

impl PageError {
    /// Every catalog key these pages use, for the test that both languages have them.
    pub(crate) const KEYS: [&'static str; 4] = ["expired", "different_browser", "paused", "unavailable"];

    pub(crate) fn unavailable(context: &'static str, e: impl std::error::Error + 'static) -> Self {
        PageError::Unavailable(context, e.to_string(), web_layer::failure_status(&e))
    }

    /// A failure on our side that waiting will not mend (a secret or QR code that cannot be made): 500.
    fn broken(context: &'static str, e: impl std::fmt::Display) -> Self {
        PageError::Unavailable(context, e.to_string(), StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub(crate) fn respond(self, svc: &StepUpService, req: &HttpRequest) -> HttpResponse {
        let (status, key) = match &self {
            PageError::Expired => (StatusCode::BAD_REQUEST, "expired"),
            PageError::DifferentBrowser => (StatusCode::FORBIDDEN, "different_browser"),
            PageError::Paused => (StatusCode::SERVICE_UNAVAILABLE, "paused"),
            PageError::Unavailable(context, e, status) => {
                tracing::error!(error = %e, "{context}");
                (*status, "unavailable")
            }
        };
        // The sign-in's own look and language once its interaction was found (`find_pending`),
        // with a way back to the application when its home page is known.
        let dress = req.extensions().get::<Dress>().cloned();
        let product = &svc.config.product_name;
        let page = match &dress {
            Some(d) => {
                let page = Page::new(req, &svc.tera, &svc.catalog, &d.lang).branded(&d.client_id, &d.branding, product);
                match &d.branding.client_url {
                    Some(home) => page.way_back(home.clone(), "app_back"),
                    None => page,
                }
            }
            None => Page::new(req, &svc.tera, &svc.catalog, Lang::of(req).pick(&svc.catalog, None)).product(product),
        };
        page.message(status, key, &[])
    }
}

/// What a sign-in's error pages wear: its client's branding and the sign-in's language. Kept in
/// the request by `find_pending` as soon as the interaction is found, for [`PageError::respond`].
#[derive(Clone)]
struct Dress {
    client_id: domain::ClientId,
    branding: domain::Branding,
    lang: String,
}

/// A handler's sign-in: the interaction of the path's `{interaction}`, if it waits for step-up in
/// this browser; otherwise the request is answered with the page that says why.
impl actix_web::FromRequest for Pending {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(svc) = req.app_data::<web::Data<StepUpService>>().cloned() else {
                return Err(actix_web::error::ErrorInternalServerError("step-up is not configured"));
            };
            let raw = req.match_info().get("interaction").unwrap_or_default().to_owned();
            find_pending(&svc, &req, &raw)
                .await
                .map_err(|e| actix_web::error::InternalError::from_response("step-up", e.respond(&svc, &req)).into())
        })
    }
}

async fn find_pending(svc: &StepUpService, req: &HttpRequest, raw: &str) -> Result<Pending, PageError> {
    let id = InteractionId::parse(raw).ok_or(PageError::Expired)?;
    let interaction = svc
        .store
        .interaction(&id)
        .await
        .map_err(|e| PageError::unavailable("interaction lookup", e))?
        .ok_or(PageError::Expired)?;
    let lang = Lang::of(req).pick(&svc.catalog, interaction.ui_locales.as_deref()).to_owned();
    let dress = Dress {
        client_id: interaction.client_id.clone(),
        branding: interaction.client_settings.branding.clone(),
        lang: lang.clone(),
    };
    req.extensions_mut().insert(dress);
    let live = interaction.expires_at > svc.clock.now() && interaction.result.is_none() && interaction.denied.is_none();
    let first = interaction.first_factor.clone().filter(|_| live).ok_or(PageError::Expired)?;
    if !interaction.browser_hash.as_deref().is_some_and(|owner| BrowserBinding::same_browser(req, owner)) {
        return Err(PageError::DifferentBrowser);
    }
    let user = svc
        .store
        .user(&first.user_id)
        .await
        .map_err(|e| PageError::unavailable("user lookup", e))?
        .ok_or(PageError::Expired)?;
    Ok(Pending { interaction, first, user, lang })
}

/// Back to the authorization server, which finishes (or refuses) the sign-in.
fn resume(id: &InteractionId) -> HttpResponse {
    see_other(&paths::resume(id))
}

/// Sets the device cookie on a response (a fresh one, or the same one with its lifetime renewed).
fn with_device(mut resp: HttpResponse, svc: &StepUpService, device: &Device) -> HttpResponse {
    if let Err(e) = resp.add_cookie(&device.cookie(svc)) {
        tracing::warn!(error = %e, "device cookie could not be set");
    }
    resp
}

/// Ends the interaction without a login: the client gets `access_denied`. The reason, and the
/// policy's reasons when the policy refused, go to the audit log.
async fn deny(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
    reason: DenyReason,
    reasons: Vec<Reason>,
) -> HttpResponse {
    let now = svc.clock.now();
    if let Err(e) = svc.store.deny_interaction(&p.interaction.id, reason, now).await {
        return PageError::unavailable("interaction deny", e).respond(svc, req);
    }
    let denied = StepUpAudit::Denied { reason, reasons, path: Door::Pages };
    if let Err(e) = svc.store.record(p.audit(denied, now)).await {
        tracing::error!(error = %e, "audit log");
    }
    resume(&p.interaction.id)
}

fn failure_key(p: &Pending) -> String {
    format!("stepup:fail:{}", p.user.id)
}

/// Takes one unit of the account's second-factor failure budget before a code is judged, so that
/// parallel guesses get no more comparisons than the budget (`max_failures_per_hour`). A right code
/// gives it back ([`give_back_failure`]). When the budget is spent, nothing may be compared: the
/// sign-in is stopped (`access_denied` for the client) and that answer is returned. Errors fail
/// closed.
async fn take_failure(svc: &StepUpService, req: &HttpRequest, p: &Pending) -> Result<(), HttpResponse> {
    let now = svc.clock.now();
    match svc.limiter.hit(&failure_key(p), svc.config.max_failures_per_hour, 3600, now).await {
        Ok(Limit::Allowed { .. }) => Ok(()),
        Ok(Limit::Limited { .. }) => {
            metrics::counter!("ostiary_limit_refusals_total", "limit" => "step_up:failures").increment(1);
            Err(deny(svc, req, p, DenyReason::TooManyWrongCodes, Vec::new()).await)
        }
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable");
            Err(PageError::Paused.respond(svc, req))
        }
    }
}

/// The code was right: the unit taken for it was no failure.
async fn give_back_failure(svc: &StepUpService, p: &Pending) {
    if let Err(e) = svc.limiter.give_back(&failure_key(p), svc.clock.now()).await {
        tracing::warn!(error = %e, "a failure count could not be given back");
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    /// Which form the code came from (`recovery_code` or `totp` share one endpoint), so that a
    /// wrong one shows the same form again.
    #[serde(default)]
    factor: Option<crate::policy::Factor>,
}

/// `POST /step-up/{interaction}/cancel`: the user stops; the client gets `access_denied`.
pub async fn cancel(req: HttpRequest, p: Pending, svc: web::Data<StepUpService>) -> HttpResponse {
    deny(&svc, &req, &p, DenyReason::Cancelled, Vec::new()).await
}
