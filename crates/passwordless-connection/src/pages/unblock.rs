//! `/unblock/{token}`: the link emailed to an account's owner when an IP was blocked for their
//! account; and the clients' brand stylesheets.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{PageError, answer, page};
use crate::PasswordlessConnection;
use crate::abuse::UNBLOCK_PURPOSE;

/// `GET /unblock/{token}`: shows a button; only the POST lifts the block (scanners fetch links).
pub async fn unblock_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let p = page(&conn, &req, None);
    let mut ctx = tera::Context::new();
    ctx.insert("token", path.as_str());
    let found = if path.len() > 128 {
        Ok(None)
    } else {
        conn.store.block_by_unblock_hash(conn.hasher.hash(UNBLOCK_PURPOSE, &path).0, conn.clock.now()).await
    };
    match found {
        Ok(Some(block)) => {
            ctx.insert("place", &block.ip);
            p.render(StatusCode::OK, "pages/unblock.html", ctx)
        }
        Ok(None) => {
            ctx.insert("dead", &true);
            p.render(StatusCode::BAD_REQUEST, "pages/unblock.html", ctx)
        }
        Err(e) => answer(&conn, &req, None, Err(PageError::Unavailable("block lookup", e))),
    }
}

#[derive(Deserialize)]
pub struct UnblockForm {
    token: String,
}

/// `POST /unblock`: lifts the block the emailed link stands for, once.
pub async fn unblock_submit(
    req: HttpRequest,
    form: web::Form<UnblockForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let p = page(&conn, &req, None);
    let mut ctx = tera::Context::new();
    let lifted = if form.token.len() > 128 {
        Ok(false)
    } else {
        conn.store.lift_block_by_unblock_hash(conn.hasher.hash(UNBLOCK_PURPOSE, &form.token).0, conn.clock.now()).await
    };
    match lifted {
        Ok(true) => {
            tracing::info!("an IP block was lifted by the account's owner");
            ctx.insert("lifted", &true);
            p.render(StatusCode::OK, "pages/unblock.html", ctx)
        }
        Ok(false) => {
            ctx.insert("dead", &true);
            p.render(StatusCode::BAD_REQUEST, "pages/unblock.html", ctx)
        }
        Err(e) => answer(&conn, &req, None, Err(PageError::Unavailable("unblock", e))),
    }
}

/// `GET /brand/{client}.css`: the client's colour as a CSS variable, so branded pages need no
/// inline style (CSP `style-src 'self'`). The colour was validated when it was set. Its pairings
/// keep WCAG AA (4.5:1, `domain::branding::contrast`): the buttons' text is white or black,
/// whichever reads on it, and links take the colour only where it reads on the card, light or dark.
pub async fn brand_css(path: web::Path<String>, conn: web::Data<PasswordlessConnection>) -> HttpResponse {
    let color = match domain::ClientId::parse(&path) {
        Some(id) => conn.store.client_branding(&id).await.ok().flatten().and_then(|branding| {
            branding.validate().ok()?;
            branding.primary_color
        }),
        None => None,
    };
    match color {
        Some(c) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .content_type("text/css; charset=utf-8")
            .body(brand_stylesheet(&c)),
        None => HttpResponse::NotFound().content_type("text/css; charset=utf-8").body(""),
    }
}

/// The stylesheet of a brand colour.
fn brand_stylesheet(color: &str) -> String {
    use domain::branding::contrast::{DARK_CARD, DARK_TEXT, LIGHT_CARD, LIGHT_TEXT, link_on, text_on};
    format!(
        ":root {{ --accent: {color}; --on-accent: {}; --link: {}; }}\n\
         @media (prefers-color-scheme: dark) {{ :root {{ --link: {}; }} }}\n",
        text_on(color),
        link_on(color, LIGHT_CARD, LIGHT_TEXT),
        link_on(color, DARK_CARD, DARK_TEXT),
    )
}
