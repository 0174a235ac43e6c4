//! What a User-Agent header says, briefly.

/// "Firefox on Linux" from a User-Agent header, for messages that say where a sign-in came from.
/// `None` when the agent cannot be recognised (bots, empty or hostile values).
pub fn describe_user_agent(user_agent: &str) -> Option<String> {
    describe_with(user_agent, "{browser} on {os}")
}

/// [`describe_user_agent`] in `lang`, for a message: `device_on` ("{browser} on {os}", "{browser}
/// sur {os}"); `None` when there is no user agent or it names nothing (the message then says
/// `device_unknown`, or names only the application).
pub fn describe_device(catalog: &domain::i18n::Catalog, lang: &str, user_agent: Option<&str>) -> Option<String> {
    user_agent.and_then(|ua| describe_with(ua, catalog.text(lang, "device_on")))
}

/// The browser and the system a user agent names (woothee's names, which need no translation),
/// put into `both` when it names both.
fn describe_with(user_agent: &str, both: &str) -> Option<String> {
    if user_agent.len() > 512 {
        return None;
    }
    let r = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |s: &str| !s.is_empty() && s != "UNKNOWN";
    match (known(r.name), known(r.os)) {
        (true, true) => Some(domain::i18n::fill(both, &[("browser", r.name), ("os", r.os)])),
        (true, false) => Some(r.name.to_owned()),
        (false, true) => Some(r.os.to_owned()),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_described_briefly() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_user_agent(firefox).as_deref(), Some("Firefox on Linux"));
        assert_eq!(describe_user_agent(""), None);
        assert_eq!(describe_user_agent("curl-ish \u{0}"), None);
    }

    #[test]
    fn a_device_is_described_in_the_messages_language() {
        use domain::i18n::{Catalog, Table};
        let table = |on: &str| Table::from([("device_on".to_owned(), on.to_owned())]);
        let tables = [("en", table("{browser} on {os}")), ("fr", table("{browser} sur {os}"))];
        let catalog = Catalog::new(tables.into_iter().map(|(l, t)| (l.to_owned(), t)).collect()).unwrap();
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_device(&catalog, "fr", Some(firefox)).as_deref(), Some("Firefox sur Linux"));
        assert_eq!(describe_device(&catalog, "en", Some(firefox)).as_deref(), Some("Firefox on Linux"));
        assert_eq!(describe_device(&catalog, "fr", Some("")), None);
        assert_eq!(describe_device(&catalog, "fr", None), None);
    }
}
