//! The profile claims people edit in an HTML form (OIDC Core §5.1): one list, one way to show and
//! to apply them, for the account page and the console.

use std::collections::HashMap;

use domain::{Profile, User};
use serde_json::{Value, json};

/// The claims the forms edit; the others (address, picture, …) stay as they are.
pub const EDITABLE: [&str; 6] = ["name", "given_name", "family_name", "nickname", "preferred_username", "locale"];

/// Each editable claim with its label (`account_claim_{key}`) in `lang` and its current value.
pub fn fields(catalog: &domain::i18n::Catalog, lang: &str, user: &User) -> Vec<Value> {
    EDITABLE
        .iter()
        .map(|k| json!({"key": k, "label": catalog.text(lang, &format!("account_claim_{k}")), "value": value(&user.profile, k)}))
        .collect()
}

fn value(p: &Profile, key: &str) -> String {
    let v = match key {
        "name" => &p.name,
        "given_name" => &p.given_name,
        "family_name" => &p.family_name,
        "nickname" => &p.nickname,
        "preferred_username" => &p.preferred_username,
        "locale" => &p.locale,
        _ => &None,
    };
    v.clone().unwrap_or_default()
}

/// Sets each editable claim from the form's fields; an empty or missing one removes the claim.
pub fn apply(profile: &mut Profile, form: &HashMap<String, String>) -> Result<(), domain::profile::ProfileError> {
    for key in EDITABLE {
        let typed = form.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        profile.set(key, typed)?;
    }
    Ok(())
}
