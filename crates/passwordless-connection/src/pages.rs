//! The hosted login pages. Every form carries the CSRF token the server's middleware checks; every
//! page's CSP allows forms to end at the client's redirect URI (browsers apply `form-action` to the
//! redirects after a submission).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use domain::web::{BrowserId, ClientIp, CsrfToken, content_security_policy, origin_of};
use domain::{EmailAddress, Interaction, InteractionId};
use serde::Deserialize;
use store::counters::Decision;

use crate::PasswordlessConnection;
use crate::challenge::{VerifyError, find_link, finish_login, start_challenge, verify_code, verify_link};

fn render(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    status: StatusCode,
    name: &str,
    mut ctx: tera::Context,
    form_target: Option<&str>,
) -> HttpResponse {
    let csrf = req.extensions().get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
    ctx.insert("csrf", &csrf);
    ctx.insert("product_name", &conn.config.product_name);
    let csp = content_security_policy(form_target.and_then(origin_of).as_deref());
    match conn.tera.render(name, &ctx) {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_SECURITY_POLICY, csp))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = ?e, template = name, "page could not be rendered");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
        }
    }
}

fn message_page(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    message: &str,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("title", title);
    ctx.insert("message", message);
    render(conn, req, status, "pages/error.html", ctx, None)
}

fn unavailable(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    context: &str,
    err: &dyn std::error::Error,
) -> HttpResponse {
    tracing::error!(error = %err, "{context}");
    message_page(
        conn,
        req,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "We could not finish this step. Please try again in a moment.",
    )
}

fn expired(conn: &PasswordlessConnection, req: &HttpRequest) -> HttpResponse {
    message_page(
        conn,
        req,
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in has finished or expired. Go back to the application and sign in again.",
    )
}

fn browser_hash(conn: &PasswordlessConnection, req: &HttpRequest) -> Option<Vec<u8>> {
    req.extensions().get::<BrowserId>().map(|b| conn.hasher.hash("browser", b.0.expose()).0)
}

fn same_browser(conn: &PasswordlessConnection, req: &HttpRequest, interaction: &Interaction) -> bool {
    browser_hash(conn, req).is_some_and(|h| domain::secret::constant_time_eq(&h, &interaction.browser_hash))
}

enum Lookup {
    Found(Interaction),
    Page(HttpResponse),
}

/// The live, unfinished interaction of this browser, or the page to show instead.
async fn interaction_for(conn: &PasswordlessConnection, req: &HttpRequest, raw_id: &str) -> Lookup {
    let Some(id) = InteractionId::parse(raw_id) else {
        return Lookup::Page(expired(conn, req));
    };
    match conn.store.interaction(&id).await {
        Ok(Some((i, _))) if i.expires_at > conn.clock.now() && i.result.is_none() => {
            if same_browser(conn, req, &i) {
                Lookup::Found(i)
            } else {
                Lookup::Page(message_page(
                    conn,
                    req,
                    StatusCode::FORBIDDEN,
                    "Different browser",
                    "This sign-in was started in another browser. Finish it there, or start again here from the application.",
                ))
            }
        }
        Ok(_) => Lookup::Page(expired(conn, req)),
        Err(e) => Lookup::Page(unavailable(conn, req, "interaction lookup", &e)),
    }
}

macro_rules! interaction_or_page {
    ($conn:expr, $req:expr, $id:expr) => {
        match interaction_for($conn, $req, $id).await {
            Lookup::Found(i) => i,
            Lookup::Page(p) => return p,
        }
    };
}

fn login_form(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("email", email);
    ctx.insert("error", &error);
    render(conn, req, status, "pages/login.html", ctx, None)
}

/// `GET /login/{interaction}`: the email form, pre-filled from `login_hint`.
pub async fn login_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let hint = interaction.login_hint.clone().unwrap_or_default();
    login_form(&conn, &req, &interaction, &hint, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct StartForm {
    email: String,
}

/// `POST /login/{interaction}`: sends the code and link. The answer is the same redirect, byte for
/// byte, whether or not the address has an account.
pub async fn start(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<StartForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let email = match EmailAddress::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            return login_form(
                &conn,
                &req,
                &interaction,
                form.email.chars().take(254).collect::<String>().as_str(),
                Some(&e.to_string()),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let ip = req.extensions().get::<ClientIp>().map(|c| c.0.to_string()).unwrap_or_default();
    match conn.limiter.hit(&format!("start:ip:{ip}"), conn.config.starts_per_ip_per_hour, 3600, conn.clock.now()).await
    {
        Ok(Decision::Allowed { .. }) => {}
        Ok(Decision::Limited { retry_after }) => {
            let minutes = retry_after.div_ceil(60);
            let mut resp = message_page(
                &conn,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                &format!("Too many sign-in emails were requested from your network. Try again in {minutes} minute(s)."),
            );
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            return resp;
        }
        // Fail closed: a limit that cannot be checked is not skipped.
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable");
            return message_page(
                &conn,
                &req,
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Sign-in is briefly unavailable. Please try again in a minute.",
            );
        }
    }
    if let Err(e) = start_challenge(&conn, &interaction, &email).await {
        return unavailable(&conn, &req, "challenge start", &e);
    }
    HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/login/{}/code", interaction.id))).finish()
}

fn code_form(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    destination: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("destination", destination);
    ctx.insert("error", &error);
    ctx.insert("code_length", &conn.config.code_length);
    render(conn, req, status, "pages/code.html", ctx, Some(&interaction.redirect_uri))
}

/// `GET /login/{interaction}/code`: "check your email", with the code field.
pub async fn code_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) => code_form(&conn, &req, &interaction, &c.destination, None, StatusCode::OK),
        Ok(None) => {
            HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/login/{}", interaction.id))).finish()
        }
        Err(e) => unavailable(&conn, &req, "challenge lookup", &e),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/{interaction}/code`.
pub async fn code_submit(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let outcome = match verify_code(&conn, &interaction, &form.code).await {
        Ok(challenge) => finish_login(&conn, &interaction, &challenge).await.map(|()| challenge),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => resume(&interaction),
        Err(VerifyError::Store(e)) => unavailable(&conn, &req, "code verification", &e),
        Err(VerifyError::Mismatch { remaining }) => {
            let destination = conn
                .store
                .latest_challenge(&interaction.id)
                .await
                .ok()
                .flatten()
                .map(|c| c.destination)
                .unwrap_or_default();
            let msg = format!(
                "That code is not right. You have {remaining} more {}.",
                if remaining == 1 { "try" } else { "tries" }
            );
            code_form(&conn, &req, &interaction, &destination, Some(&msg), StatusCode::BAD_REQUEST)
        }
        // One page for every other failure: the code is no longer usable; say how to get a new one.
        Err(_) => {
            let mut ctx = tera::Context::new();
            ctx.insert("interaction", interaction.id.as_str());
            render(&conn, &req, StatusCode::BAD_REQUEST, "pages/code_dead.html", ctx, None)
        }
    }
}

fn resume(interaction: &Interaction) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/authorize/resume/{}", interaction.id))).finish()
}

/// The interaction a link belongs to, if it is live and this browser started it.
async fn link_interaction(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    token: &str,
) -> Result<Interaction, HttpResponse> {
    let challenge = match find_link(conn, token).await {
        Ok(c) => c,
        Err(VerifyError::Store(e)) => return Err(unavailable(conn, req, "link lookup", &e)),
        Err(_) => {
            return Err(message_page(
                conn,
                req,
                StatusCode::BAD_REQUEST,
                "Link expired",
                "This sign-in link has expired or was already used. Go back to the application and sign in again.",
            ));
        }
    };
    let interaction = match conn.store.interaction(&challenge.interaction_id).await {
        Ok(Some((i, _))) if i.result.is_none() && i.expires_at > conn.clock.now() => i,
        Ok(_) => return Err(expired(conn, req)),
        Err(e) => return Err(unavailable(conn, req, "interaction lookup", &e)),
    };
    if !same_browser(conn, req, &interaction) {
        // Nothing is spent: the user can still type the code in the browser that started.
        let mut ctx = tera::Context::new();
        ctx.insert("client_name", &interaction.client_name);
        return Err(render(conn, req, StatusCode::OK, "pages/link_elsewhere.html", ctx, None));
    }
    Ok(interaction)
}

/// `GET /login/link/{token}`: only shows "Continue signing in". Mail scanners that fetch links
/// (GET or HEAD) therefore never spend the token.
pub async fn link_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = match link_interaction(&conn, &req, &path).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let mut ctx = tera::Context::new();
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("token", path.as_str());
    render(&conn, &req, StatusCode::OK, "pages/link.html", ctx, Some(&interaction.redirect_uri))
}

#[derive(Deserialize)]
pub struct LinkForm {
    token: String,
}

/// `POST /login/link`: spends the link in the browser that started the login.
pub async fn link_submit(
    req: HttpRequest,
    form: web::Form<LinkForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = match link_interaction(&conn, &req, &form.token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let outcome = match verify_link(&conn, &form.token).await {
        Ok(challenge) => finish_login(&conn, &interaction, &challenge).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => resume(&interaction),
        Err(VerifyError::Store(e)) => unavailable(&conn, &req, "link verification", &e),
        Err(_) => message_page(
            &conn,
            &req,
            StatusCode::BAD_REQUEST,
            "Link expired",
            "This sign-in link has expired or was already used. Go back to the application and sign in again.",
        ),
    }
}
