//! Words of the hosted pages and messages, per language, and the choice of language for a request:
//! the client's `ui_locales` first (OIDC Core §3.1.2.1), then `Accept-Language` (RFC 9110 §12.5.4),
//! then English. The tables are loaded once at start-up by the server; every language must have
//! every key English has, so a page never shows a missing text.

use std::collections::{BTreeMap, HashMap};

pub const DEFAULT_LANGUAGE: &str = "en";

/// One language's texts, by key.
pub type Table = BTreeMap<String, String>;

/// The name under which [`Catalog::table_for`] keeps the texts of every email and text message.
pub const MESSAGES: &str = "messages";

#[derive(Clone, Debug)]
pub struct Catalog {
    tables: HashMap<String, Table>,
    /// Per template (or [`MESSAGES`]), per language: only the texts that template shows. A page's
    /// context then carries a few dozen texts instead of every one (about 400), which it would copy
    /// on every render.
    used: HashMap<String, HashMap<String, Table>>,
}

impl Catalog {
    /// Checks that English exists and that every other language has exactly its keys.
    pub fn new(tables: HashMap<String, Table>) -> Result<Self, String> {
        let english = tables.get(DEFAULT_LANGUAGE).ok_or("there is no English (en) table")?;
        for (lang, table) in &tables {
            if let Some(missing) = english.keys().find(|k| !table.contains_key(*k)) {
                return Err(format!("language {lang:?} has no text for {missing:?}"));
            }
            if let Some(extra) = table.keys().find(|k| !english.contains_key(*k)) {
                return Err(format!("language {lang:?} has {extra:?}, which English does not"));
            }
        }
        Ok(Self { tables, used: HashMap::new() })
    }

    /// Declares the text keys each template shows (`template -> keys`), for [`Catalog::table_for`].
    /// A key no table has is left out (the template shows the key itself, as `text` does).
    pub fn with_templates(mut self, uses: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        for (template, keys) in uses {
            let per_lang = self
                .tables
                .iter()
                .map(|(lang, table)| {
                    let subset =
                        keys.iter().filter_map(|k| table.get_key_value(k)).map(|(k, v)| (k.clone(), v.clone()));
                    (lang.clone(), subset.collect())
                })
                .collect();
            self.used.insert(template, per_lang);
        }
        self
    }

    /// The texts of `lang` (or English) that `template` shows; all of them for a template that was
    /// not declared.
    pub fn table_for(&self, lang: &str, template: &str) -> &Table {
        let Some(per_lang) = self.used.get(template) else { return self.table(lang) };
        per_lang.get(lang).or_else(|| per_lang.get(DEFAULT_LANGUAGE)).unwrap_or_else(|| self.table(lang))
    }

    /// The languages available, sorted.
    pub fn languages(&self) -> Vec<&str> {
        let mut langs: Vec<&str> = self.tables.keys().map(String::as_str).collect();
        langs.sort_unstable();
        langs
    }

    /// The best available language for a request.
    pub fn negotiate(&self, ui_locales: Option<&str>, accept_language: Option<&str>) -> &str {
        let preferred = ui_locales
            .into_iter()
            .flat_map(|v| v.split(' '))
            .map(|tag| (tag, 1.0))
            .chain(accept_language.map(parse_accept_language).unwrap_or_default());
        for (tag, _) in preferred {
            let tag = tag.trim().to_ascii_lowercase();
            let primary = tag.split(['-', '_']).next().unwrap_or("");
            if let Some((lang, _)) = self.tables.get_key_value(primary) {
                return lang;
            }
        }
        DEFAULT_LANGUAGE
    }

    /// The texts of `lang`, or English.
    pub fn table(&self, lang: &str) -> &Table {
        self.tables.get(lang).or_else(|| self.tables.get(DEFAULT_LANGUAGE)).expect("English is checked in new")
    }

    /// One text of `lang`; the key itself if it does not exist (a template bug, visible in tests).
    pub fn text<'a>(&'a self, lang: &str, key: &'a str) -> &'a str {
        self.table(lang).get(key).map(String::as_str).unwrap_or(key)
    }

    /// One text of `lang` with its `{name}` placeholders filled in.
    pub fn fill(&self, lang: &str, key: &str, values: &[(&str, &str)]) -> String {
        fill(self.text(lang, key), values)
    }

    /// The text of `key` for a count `n`: `{key}_one` or `{key}_other` by the language's plural
    /// rule (CLDR cardinal rules), with `{n}` and the other placeholders filled in.
    pub fn fill_count(&self, lang: &str, key: &str, n: u64, values: &[(&str, &str)]) -> String {
        let form = if plural_one(lang, n) { "one" } else { "other" };
        let count = n.to_string();
        let mut all = vec![("n", count.as_str())];
        all.extend_from_slice(values);
        self.fill(lang, &format!("{key}_{form}"), &all)
    }
}

/// `text` with its `{name}` placeholders filled in: the one rule for every text of the catalog and
/// for the operator's own (a configured email subject).
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| text.replace(&format!("{{{name}}}"), value))
}

/// CLDR's cardinal "one" category for whole numbers: French counts 0 and 1 as singular, English
/// (and the default) only 1.
fn plural_one(lang: &str, n: u64) -> bool {
    match lang {
        "fr" => n <= 1,
        _ => n == 1,
    }
}

/// `Accept-Language` ranges with their weights, best first; `q=0` ranges are dropped.
fn parse_accept_language(header: &str) -> Vec<(&str, f32)> {
    let mut ranges: Vec<(&str, f32)> = header
        .split(',')
        .take(20)
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .unwrap_or(1.0);
            (!tag.is_empty() && tag != "*" && q > 0.0).then_some((tag, q))
        })
        .collect();
    ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let table = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut tables = HashMap::new();
        tables.insert("en".to_owned(), table(&[("hello", "Hello")]));
        tables.insert("fr".to_owned(), table(&[("hello", "Bonjour")]));
        Catalog::new(tables).unwrap()
    }

    #[test]
    fn ui_locales_win_then_accept_language_then_english() {
        let c = catalog();
        assert_eq!(c.negotiate(Some("de fr-CA"), Some("en")), "fr");
        assert_eq!(c.negotiate(None, Some("de-DE, fr;q=0.8, en;q=0.5")), "fr");
        assert_eq!(c.negotiate(None, Some("fr;q=0.2, en;q=0.9")), "en");
        assert_eq!(c.negotiate(None, Some("fr;q=0")), "en");
        assert_eq!(c.negotiate(Some("ja"), None), "en");
        assert_eq!(c.text("fr", "hello"), "Bonjour");
        assert_eq!(c.text("xx", "hello"), "Hello");
    }

    #[test]
    fn placeholders_and_plurals_are_filled_by_the_languages_rules() {
        let table = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let forms = [("left_one", "{n} try for {who}"), ("left_other", "{n} tries for {who}")];
        let mut tables = HashMap::new();
        tables.insert("en".to_owned(), table(&forms));
        tables.insert("fr".to_owned(), table(&[("left_one", "{n} essai"), ("left_other", "{n} essais")]));
        let c = Catalog::new(tables).unwrap();
        assert_eq!(c.fill_count("en", "left", 1, &[("who", "Ann")]), "1 try for Ann");
        assert_eq!(c.fill_count("en", "left", 0, &[("who", "Ann")]), "0 tries for Ann");
        assert_eq!(c.fill_count("fr", "left", 0, &[]), "0 essai");
        assert_eq!(c.fill_count("fr", "left", 2, &[]), "2 essais");
        assert_eq!(c.fill("en", "left_other", &[("n", "3"), ("who", "Bo")]), "3 tries for Bo");
    }

    #[test]
    fn a_language_missing_a_text_is_refused() {
        let mut tables = HashMap::new();
        tables.insert("en".to_owned(), Table::from([("a".into(), "A".into()), ("b".into(), "B".into())]));
        tables.insert("fr".to_owned(), Table::from([("a".into(), "A".into())]));
        assert!(Catalog::new(tables).unwrap_err().contains("\"b\""));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn catalog() -> Catalog {
        let table = |text: &str| Table::from([("hello".to_owned(), text.to_owned())]);
        let tables = HashMap::from([("en".to_owned(), table("Hello")), ("fr".to_owned(), table("Bonjour"))]);
        Catalog::new(tables).unwrap()
    }

    proptest! {
        /// Whatever a client sends, the answer is one of the catalog's languages.
        #[test]
        fn any_header_picks_a_language_we_have(ui in proptest::option::of(".{0,80}"), header in proptest::option::of(".{0,300}")) {
            let c = catalog();
            let lang = c.negotiate(ui.as_deref(), header.as_deref());
            prop_assert!(["en", "fr"].contains(&lang), "{}", lang);
        }

        /// RFC 9110 §12.5.4: the range with the highest weight wins, whatever their order; `q=0`
        /// means "not acceptable".
        #[test]
        fn the_heaviest_acceptable_range_wins(fr_q in 1u32..=999, en_q in 1u32..=999, fr_first in any::<bool>()) {
            prop_assume!(fr_q != en_q);
            let (fr, en) = (format!("fr-CA;q=0.{fr_q:03}"), format!("en;q=0.{en_q:03}"));
            let header = if fr_first { format!("{fr}, {en}") } else { format!("{en}, {fr}") };
            let expected = if fr_q > en_q { "fr" } else { "en" };
            let c = catalog();
            prop_assert_eq!(c.negotiate(None, Some(&header)), expected);
            prop_assert_eq!(c.negotiate(None, Some("de, fr;q=0, x;q=0.5")), "en");
        }
    }
}
