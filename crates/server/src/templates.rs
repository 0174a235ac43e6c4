//! All templates and language tables, compiled into the binary and parsed once at start-up.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use domain::i18n::{Catalog, Table};
use tera::Tera;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

pub fn load() -> Result<Tera, tera::Error> {
    let mut tera = Tera::default();
    tera.add_raw_templates(templates![
        "pages/base.html",
        "pages/error.html",
        "pages/login.html",
        "pages/code.html",
        "pages/code_dead.html",
        "pages/link.html",
        "pages/link_elsewhere.html",
        "pages/approve.html",
        "pages/unblock.html",
        "pages/outbox.html",
        "pages/demo.html",
        "pages/form_post.html",
        "pages/logout.html",
        "pages/step_up.html",
        "pages/enroll.html",
        "pages/recovery_codes.html",
        "pages/not_me.html",
        "pages/switch_account.html",
        "email/sign_in.txt",
        "email/sign_in.html",
        "email/no_account.txt",
        "email/no_account.html",
        "email/unblock.txt",
        "email/unblock.html",
        "email/alert.txt",
        "email/alert.html",
        "email/new_sign_in.txt",
        "email/new_sign_in.html",
        "sms/sign_in.txt",
    ])?;
    Ok(tera)
}

/// The language tables of `templates/i18n/`, checked to have the same keys.
pub fn catalog() -> Result<Catalog, String> {
    let files = [
        ("en", include_str!("../../../templates/i18n/en.toml")),
        ("fr", include_str!("../../../templates/i18n/fr.toml")),
    ];
    let mut tables = HashMap::new();
    for (lang, text) in files {
        let table: Table = toml::from_str(text).map_err(|e| format!("{lang}.toml: {e}"))?;
        tables.insert(lang.to_owned(), table);
    }
    Catalog::new(tables)
}

/// A page of the server's own (not found, a form refused by the middleware): the catalog's
/// `{title}` and `{text}`, in the language the request asks for.
pub fn message_page(
    tera: &Tera,
    catalog: &Catalog,
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    text: &str,
) -> HttpResponse {
    let lang = web_layer::Lang::of(req).pick(catalog, None);
    web_layer::Page::plain(tera, catalog, lang).titled(status, title, text, &[])
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        super::load().unwrap();
    }

    #[test]
    fn every_language_has_every_text() {
        let catalog = super::catalog().unwrap();
        assert_eq!(catalog.languages(), ["en", "fr"]);
    }
}
