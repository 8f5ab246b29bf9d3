//! Search over conserved messages, done simply: at ingest each message's words (subject,
//! body text, sender, recipients, attachment names, daticert subject) are folded
//! (lower case, no accents) into a sorted set recorded with its package; a query scans
//! the records, matching each word by binary search as a prefix of a crude Italian
//! stem (the last vowel of words over four letters is dropped, so `ricevuta` finds
//! `ricevute`), with filters by PEC kind and date. No full-text engine (tantivy): the
//! cost is linear in the number of conserved messages.

use jiff::Timestamp;
use serde::Serialize;

use crate::conservation::archive::PackageRecord;

/// A parsed query.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Query {
    /// Words that must all match.
    pub words: Vec<String>,
    /// `kind:` filter (prefix of the PEC kind).
    pub kind: Option<String>,
    /// `since:` filter.
    pub since: Option<Timestamp>,
    /// `until:` filter.
    pub until: Option<Timestamp>,
}

/// One hit.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// The package.
    pub package: String,
    /// The SIP id.
    pub sip_id: String,
    /// The PEC kind.
    pub kind: String,
    /// When filed.
    pub received: Timestamp,
    /// From.
    pub from: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// The PEC msgid.
    pub pec_id: Option<String>,
}

impl Query {
    /// Parses `words… kind:K since:T until:T`; `parse_time` reads the dates.
    pub fn parse(
        text: &str,
        parse_time: impl Fn(&str) -> Result<Timestamp, String>,
    ) -> Result<Query, String> {
        let mut query = Query::default();
        for token in text.split_whitespace() {
            if let Some(kind) = token.strip_prefix("kind:") {
                query.kind = Some(kind.to_lowercase());
            } else if let Some(time) = token.strip_prefix("since:") {
                query.since = Some(parse_time(time)?);
            } else if let Some(time) = token.strip_prefix("until:") {
                query.until = Some(parse_time(time)?);
            } else {
                query.words.extend(words(token).map(|w| stem(&w)));
            }
        }
        Ok(query)
    }
}

/// Folds case and accents.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            other => other,
        })
        .collect()
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    fold(text)
        .split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.')
        .map(|w| w.trim_matches('.').to_string())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The sorted, deduplicated folded words of some texts: what search matches against.
pub fn terms<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = texts
        .into_iter()
        .flat_map(|t| words(t).collect::<Vec<_>>())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a sorted term list holds a term starting with `prefix`.
fn has_prefix(terms: &[String], prefix: &str) -> bool {
    let at = terms.partition_point(|t| t.as_str() < prefix);
    terms.get(at).is_some_and(|t| t.starts_with(prefix))
}

fn stem(word: &str) -> String {
    let vowel = word.ends_with(['a', 'e', 'i', 'o']);
    if vowel && word.chars().count() > 4 {
        word.chars().take(word.chars().count() - 1).collect()
    } else {
        word.to_string()
    }
}

/// The hits of `query` among `mailbox`'s packages, oldest first.
pub fn search(packages: &[PackageRecord], mailbox: &str, query: &Query) -> Vec<Hit> {
    let mut hits = Vec::new();
    for package in packages
        .iter()
        .filter(|p| p.mailbox.eq_ignore_ascii_case(mailbox))
    {
        for message in &package.messages {
            let m = &message.metadata;
            if query
                .kind
                .as_ref()
                .is_some_and(|k| !m.kind.starts_with(k.as_str()))
            {
                continue;
            }
            if query.since.is_some_and(|t| m.received < t)
                || query.until.is_some_and(|t| m.received > t)
            {
                continue;
            }
            if query.words.iter().all(|w| has_prefix(&m.terms, w)) {
                hits.push(Hit {
                    package: package.id.clone(),
                    sip_id: m.sip_id.clone(),
                    kind: m.kind.clone(),
                    received: m.received,
                    from: m.from.clone(),
                    subject: m.subject.clone(),
                    pec_id: m.pec_id.clone(),
                });
            }
        }
    }
    hits.sort_by_key(|h| h.received);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conservation::archive::Packaged;
    use crate::conservation::sip::Metadata;

    fn package(subject: &str, kind: &str, text: &str) -> PackageRecord {
        PackageRecord {
            id: "pda-1".into(),
            mailbox: "m@pec-a.test".into(),
            created: Timestamp::UNIX_EPOCH,
            tagmanifest_sha256: String::new(),
            bytes: 0,
            messages: vec![Packaged {
                rdv_id: "rdv".into(),
                sip_sha256: String::new(),
                metadata: Metadata {
                    sip_id: "pdv-1".into(),
                    kind: kind.into(),
                    subject: Some(subject.into()),
                    terms: terms([subject, text, "atto.pdf"]),
                    ..Metadata::default()
                },
            }],
        }
    }

    #[test]
    fn words_kinds_and_stems() {
        let packages = [package(
            "Atto di citazione, perché urgente",
            "posta-certificata",
            "in allegato le fatture",
        )];
        let parse = |t: &str| Query::parse(t, |_| Err("no dates".into())).unwrap();
        assert_eq!(
            search(&packages, "m@pec-a.test", &parse("citazione URGENTE")).len(),
            1
        );
        assert_eq!(
            search(&packages, "m@pec-a.test", &parse("perche fattura")).len(),
            1
        );
        assert_eq!(
            search(&packages, "m@pec-a.test", &parse("atto.pdf")).len(),
            1
        );
        assert_eq!(
            search(&packages, "m@pec-a.test", &parse("citazione kind:avvenuta")).len(),
            0
        );
        assert_eq!(
            search(&packages, "m@pec-a.test", &parse("decreto")).len(),
            0
        );
        assert_eq!(search(&packages, "x@pec-a.test", &parse("atto")).len(), 0);
    }
}
