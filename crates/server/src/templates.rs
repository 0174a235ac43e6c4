//! All templates and language tables, compiled into the binary and parsed once at start-up.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use domain::i18n::{Catalog, MESSAGES, Table};
use tera::Tera;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

/// Every template: its name and its source.
const SOURCES: &[(&str, &str)] = &templates![
    "pages/base.html",
    "pages/error.html",
    "pages/login.html",
    "pages/passkey_offer.html",
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
    "pages/totp_key.html",
    "pages/recovery_codes.html",
    "pages/not_me.html",
    "pages/switch_account.html",
    "pages/device.html",
    "pages/device_confirm.html",
    "pages/admin_home.html",
    "pages/admin_users.html",
    "pages/admin_user.html",
    "pages/admin_security.html",
    "pages/admin_webhooks.html",
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
    "email/header.html",
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
    "email/passkey_changed.txt",
    "email/passkey_changed.html",
    "sms/sign_in.txt",
    "sms/contact_changed.txt",
    "sms/account_code.txt",
];

/// Every template, parsed; the pages load static files by their versioned URLs
/// ([`crate::http::static_url`]).
pub fn load() -> Result<Tera, tera::Error> {
    let versioned = SOURCES.iter().map(|(name, source)| {
        let source = crate::http::STATIC_FILES.iter().fold(source.to_string(), |source, (file, _, content)| {
            source.replace(&format!("\"/static/{file}\""), &format!("\"{}\"", crate::http::static_url(file, content)))
        });
        (*name, source)
    });
    let mut tera = Tera::default();
    tera.add_raw_templates(versioned)?;
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
    Ok(Catalog::new(tables)?.with_templates(text_keys(SOURCES)))
}

/// The catalog keys each template shows: its own `t.key` references and those of the templates it
/// extends or includes, and under [`MESSAGES`] those of every email and text message. A render then
/// copies a few dozen texts into its context, not all of them.
fn text_keys(sources: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
    let own: HashMap<&str, (BTreeSet<String>, Vec<&str>)> =
        sources.iter().map(|(name, source)| (*name, (text_references(source), template_references(source)))).collect();
    let mut messages = BTreeSet::new();
    let mut uses = Vec::with_capacity(sources.len() + 1);
    for (name, _) in sources {
        let (mut keys, mut todo, mut seen) = (BTreeSet::new(), vec![*name], Vec::new());
        while let Some(next) = todo.pop() {
            if seen.contains(&next) {
                continue;
            }
            seen.push(next);
            if let Some((texts, templates)) = own.get(next) {
                keys.extend(texts.iter().cloned());
                todo.extend(templates.iter().copied());
            }
        }
        if name.starts_with("email/") || name.starts_with("sms/") {
            messages.extend(keys.iter().cloned());
        }
        uses.push(((*name).to_owned(), keys.into_iter().collect()));
    }
    uses.push((MESSAGES.to_owned(), messages.into_iter().collect()));
    uses
}

/// The `t.key` references of a template's source (a reference to a key no table has is harmless).
fn text_references(source: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source
        .match_indices("t.")
        .filter(|(i, _)| !source[..*i].ends_with(|c: char| word(c) || c == '.'))
        .map(|(i, _)| source[i + 2..].chars().take_while(|c| word(*c)).collect::<String>())
        .filter(|key| !key.is_empty())
        .collect()
}

/// The templates a template's source extends or includes (`{% extends "…" %}`, `{% include "…" %}`).
fn template_references(source: &str) -> Vec<&str> {
    ["extends \"", "include \""]
        .iter()
        .flat_map(|tag| source.match_indices(tag).map(move |(i, _)| &source[i + tag.len()..]))
        .filter_map(|rest| rest.split('"').next())
        .collect()
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

    /// A page's context carries the texts of its template and of the base layout it extends, and
    /// not the others; the messages' entry has every email's texts.
    #[test]
    fn a_template_gets_the_texts_it_and_its_layout_show() {
        let catalog = super::catalog().unwrap();
        let all = catalog.table("fr");
        let login = catalog.table_for("fr", "pages/login.html");
        let base_keys = super::text_references(super::SOURCES.iter().find(|(n, _)| *n == "pages/base.html").unwrap().1);
        let login_keys =
            super::text_references(super::SOURCES.iter().find(|(n, _)| *n == "pages/login.html").unwrap().1);
        assert!(!base_keys.is_empty() && !login_keys.is_empty());
        for key in base_keys.iter().chain(&login_keys).filter(|k| all.contains_key(*k)) {
            assert_eq!(login.get(key), all.get(key), "{key}");
        }
        assert!(login.len() < all.len() / 4, "{} of {}", login.len(), all.len());
        let messages = catalog.table_for("en", super::MESSAGES);
        assert!(messages.len() > 5 && messages.len() < all.len(), "{} of {}", messages.len(), all.len());
        let sign_in =
            super::text_references(super::SOURCES.iter().find(|(n, _)| *n == "email/sign_in.html").unwrap().1);
        assert!(sign_in.iter().all(|k| messages.contains_key(k) || !all.contains_key(k)));
        assert_eq!(catalog.table_for("en", "no/such.html").len(), catalog.table("en").len(), "undeclared: all");
    }

    #[test]
    fn text_references_are_read_from_the_source() {
        let keys = super::text_references("{{ t.title }} {{t.a_b2}} {% if x %}{{ not.t.x }}{{ at.y }}{% endif %} it.");
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["a_b2", "title"]);
        let parents = super::template_references("{% extends \"pages/base.html\" %}{% include \"pages/x.html\" %}");
        assert_eq!(parents, ["pages/base.html", "pages/x.html"]);
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
