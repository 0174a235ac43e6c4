//! The paths where one crate hands the user to another. The protocol crates never import each
//! other, so these live here: the owner mounts the pattern, the others link with the function.

use domain::InteractionId;

/// The login pages of the passwordless connection (the first factor).
pub const LOGIN: &str = "/login/{interaction}";
/// Step-up's page (a second factor).
pub const STEP_UP: &str = "/step-up/{interaction}";
/// The authorization server's end of a login: a session, and the code for the client.
pub const RESUME: &str = "/authorize/resume/{interaction}";

/// A client's brand stylesheet (its colour), served by the passwordless connection and used by
/// every page in the client's branding (the account page's too).
pub const BRAND: &str = "/brand/{client}.css";

pub fn brand(client: &domain::ClientId) -> String {
    BRAND.replace("{client}", client.as_str())
}

pub fn login(id: &InteractionId) -> String {
    fill(LOGIN, id)
}

pub fn step_up(id: &InteractionId) -> String {
    fill(STEP_UP, id)
}

pub fn resume(id: &InteractionId) -> String {
    fill(RESUME, id)
}

/// `pattern` with its `{interaction}` segment filled in (ids are URL-safe by construction).
pub fn fill(pattern: &str, id: &InteractionId) -> String {
    pattern.replace("{interaction}", id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_off_paths_carry_the_interaction() {
        let id = InteractionId::parse("abc").unwrap();
        assert_eq!(
            (login(&id), step_up(&id), resume(&id)),
            ("/login/abc".into(), "/step-up/abc".into(), "/authorize/resume/abc".into())
        );
    }
}
