//! E-mail addresses (RFC 5321 §4.1.2 `Mailbox`), parsed once at the edge.

use std::fmt;

/// A syntactically valid mailbox address. The domain is lower-cased; the local part is
/// kept as written (RFC 5321 §2.4: only the receiving host may interpret it).
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Address(String);

/// Why a string is not an address.
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
pub enum AddressError {
    /// No `@` separates local part and domain.
    #[error("{0:?} has no @")]
    MissingAt(String),
    /// The local part is empty, too long or has characters outside a dot-atom.
    #[error("{0:?} has an invalid local part")]
    LocalPart(String),
    /// The domain is not a sequence of LDH labels.
    #[error("{0:?} has an invalid domain")]
    Domain(String),
}

impl Address {
    /// Parses `local@domain`, also accepting `<local@domain>` and surrounding blanks.
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        let trimmed = text.trim();
        let bare = trimmed
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(trimmed);
        let (local, domain) = bare
            .rsplit_once('@')
            .ok_or_else(|| AddressError::MissingAt(text.to_string()))?;
        if !is_local_part(local) {
            return Err(AddressError::LocalPart(text.to_string()));
        }
        if !is_domain(domain) {
            return Err(AddressError::Domain(text.to_string()));
        }
        Ok(Address(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The whole address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, lower-cased.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// The local part, as written.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    /// Case-insensitive comparison of the whole address, the way PEC compares
    /// `From` with the authenticated mailbox and RCPT TO with To/Cc.
    pub fn same_mailbox(&self, other: &Address) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a display text (a From name, a comment) shows as addresses: each run of
/// characters without blanks, quotes or brackets that has text on both sides of an
/// at-sign, lower-cased, with the look-alike at-signs (`＠`, `﹫`) read as `@`. Looser
/// than [`Address::parse`] on purpose: a reader takes `boss@pec-a．test` for an address
/// too.
pub fn shown_addresses(text: &str) -> Vec<String> {
    let normalized: String = text
        .chars()
        .map(|c| match c {
            '\u{FF20}' | '\u{FE6B}' => '@',
            other => other,
        })
        .collect();
    normalized
        .split(|c: char| c.is_whitespace() || "\"'<>()[],;:\\".contains(c))
        .map(|token| token.trim_end_matches(['.', '!', '?']))
        .filter(|token| {
            token
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        })
        .map(str::to_lowercase)
        .collect()
}

fn is_local_part(local: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~.";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
}

fn is_domain(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes_the_domain() {
        let address = Address::parse(" <Mario.Rossi@PEC-Avvocati.Test> ").unwrap();
        assert_eq!(address.as_str(), "Mario.Rossi@pec-avvocati.test");
        assert_eq!(address.domain(), "pec-avvocati.test");
        assert_eq!(address.local_part(), "Mario.Rossi");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        assert!(matches!(
            Address::parse("nobody"),
            Err(AddressError::MissingAt(_))
        ));
        assert!(matches!(
            Address::parse("@x.it"),
            Err(AddressError::LocalPart(_))
        ));
        assert!(matches!(
            Address::parse("a b@x.it"),
            Err(AddressError::LocalPart(_))
        ));
        assert!(matches!(
            Address::parse("a@-x.it"),
            Err(AddressError::Domain(_))
        ));
        assert!(matches!(
            Address::parse("a@x..it"),
            Err(AddressError::Domain(_))
        ));
        assert!(matches!(
            Address::parse("a@x.it\r\nBcc: y"),
            Err(AddressError::Domain(_))
        ));
    }

    #[test]
    fn finds_the_addresses_a_display_name_shows() {
        assert_eq!(shown_addresses("Mario Rossi"), Vec::<String>::new());
        assert_eq!(shown_addresses("Rossi @ Studio"), Vec::<String>::new());
        assert_eq!(shown_addresses("Boss@PEC-A.test"), ["boss@pec-a.test"]);
        assert_eq!(
            shown_addresses("Ufficio (per conto di 'capo@pec-a.test'.)"),
            ["capo@pec-a.test"]
        );
        assert_eq!(shown_addresses("boss＠pec-a.test"), ["boss@pec-a.test"]);
        assert_eq!(shown_addresses("a@x.it, <b@y.it>"), ["a@x.it", "b@y.it"]);
    }

    #[test]
    fn compares_mailboxes_case_insensitively() {
        let a = Address::parse("alice@pec-a.test").unwrap();
        assert!(a.same_mailbox(&Address::parse("ALICE@pec-a.test").unwrap()));
    }
}
