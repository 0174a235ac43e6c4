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
        "pages/admin_home.html",
        "pages/admin_users.html",
        "pages/admin_user.html",
        "pages/admin_security.html",
        "pages/admin_audit.html",
        "pages/admin_activity.html",
        "pages/admin_clients.html",
        "pages/admin_client.html",
        "pages/account.html",
        "pages/account_code_form.html",
        "pages/account_contact.html",
        "pages/account_authenticator.html",
        "pages/account_recovery_codes.html",
        "pages/account_delete.html",
        "pages/account_undo.html",
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
        "email/contact_changed.txt",
        "email/contact_changed.html",
        "email/account_code.txt",
        "email/account_code.html",
        "sms/sign_in.txt",
        "sms/contact_changed.txt",
        "sms/account_code.txt",
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

/// The server's own error pages (not found, a refused request head, a form refused by the
/// middleware), each with its catalog texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerPage {
    NotFound,
    /// A request head the HTTP/1 guard refused.
    Malformed,
    /// A form post without this browser's CSRF token, or from another site.
    FormExpired,
    /// A form body that cannot be read (compressed, cut short).
    FormMalformed,
    FormTooLarge,
}

impl ServerPage {
    #[cfg(test)]
    pub const ALL: [ServerPage; 5] = [
        ServerPage::NotFound,
        ServerPage::Malformed,
        ServerPage::FormExpired,
        ServerPage::FormMalformed,
        ServerPage::FormTooLarge,
    ];

    /// The catalog's title and text keys.
    pub fn keys(self) -> (&'static str, &'static str) {
        match self {
            ServerPage::NotFound => ("not_found_title", "not_found_text"),
            ServerPage::Malformed => ("malformed_title", "malformed_text"),
            ServerPage::FormExpired => ("form_expired_title", "form_expired"),
            ServerPage::FormMalformed => ("form_malformed_title", "form_malformed_text"),
            ServerPage::FormTooLarge => ("form_too_large_title", "form_too_large_text"),
        }
    }
}

/// One of the server's own pages, in the language the request asks for.
pub fn message_page(
    tera: &Tera,
    catalog: &Catalog,
    req: &HttpRequest,
    status: StatusCode,
    which: ServerPage,
) -> HttpResponse {
    let lang = web_layer::Lang::of(req).pick(catalog, None);
    let (title, text) = which.keys();
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

    /// Every error of every handler family names texts both languages have (`Catalog::text` would
    /// otherwise show the key itself).
    #[test]
    fn every_error_page_has_its_texts_in_every_language() {
        let catalog = super::catalog().unwrap();
        let own = super::ServerPage::ALL.iter().flat_map(|p| [p.keys().0.to_owned(), p.keys().1.to_owned()]);
        let keys = authorization_server::error_text_keys()
            .into_iter()
            .chain(own)
            .chain(passwordless_connection::error_text_keys())
            .chain(step_up::error_text_keys());
        let mut checked = 0;
        for key in keys {
            for lang in catalog.languages() {
                assert!(catalog.table(lang).contains_key(&key), "{lang} has no {key}");
            }
            checked += 1;
        }
        assert!(checked > 30, "{checked} keys");
    }
}
