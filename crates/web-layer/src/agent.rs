//! What a User-Agent header says, briefly.

/// "Firefox on Linux" from a User-Agent header, for messages that say where a sign-in came from.
/// `None` when the agent cannot be recognised (bots, empty or hostile values).
pub fn describe_user_agent(user_agent: &str) -> Option<String> {
    if user_agent.len() > 512 {
        return None;
    }
    let r = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |s: &str| !s.is_empty() && s != "UNKNOWN";
    match (known(r.name), known(r.os)) {
        (true, true) => Some(format!("{} on {}", r.name, r.os)),
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
}
