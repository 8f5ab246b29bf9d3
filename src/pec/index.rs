//! The "Indice dei gestori PEC": who is a PEC provider, with which certificates and
//! domains (RFC 6109 §4.5, spec pec.md §8).
//!
//! [`ProvidersIndex::from_ldif`] reads the directory in the RFC 6109 §4.5 schema (base
//! `o=postacert`, records `providerName=<name>,o=postacert` and, for secondary
//! environments, `providerUnit=<env>,providerName=<name>,o=postacert`) and answers the
//! two questions the provider asks: "is this recipient domain PEC?" ([`by_domain`],
//! [`is_certified`]) and "which provider does this signing certificate belong to?"
//! ([`by_certificate_sha1`]). [`Provider::to_ldif`] writes a record back.
//!
//! Loading the signed `.p7m` form and checking certificates against their hashes belongs
//! to `crate::crypto::trust`. Pure code: no I/O.
//!
//! [`by_domain`]: ProvidersIndex::by_domain
//! [`is_certified`]: ProvidersIndex::is_certified
//! [`by_certificate_sha1`]: ProvidersIndex::by_certificate_sha1

use std::collections::HashMap;

use crate::pec::ldif;
use crate::pec::ldif::Entry;
use crate::pec::ldif::LdifError;

/// The directory's base DN.
pub const BASE_DN: &str = "o=postacert";

/// One provider record: the main environment (`unit: None`) or a secondary one.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Provider {
    /// `providerName`.
    pub name: String,
    /// `providerUnit`: the secondary environment, `None` for the main one.
    pub unit: Option<String>,
    /// `providerCertificateHash`: SHA-1 of each signing certificate, lowercase hex
    /// without separators.
    pub certificate_hashes: Vec<String>,
    /// `providerCertificate;binary`: the signing certificates, DER. Several overlap
    /// during a renewal.
    pub certificates: Vec<Vec<u8>>,
    /// `mailReceipt`: the service mailbox for presa-in-carico and rilevazione-virus.
    pub mail_receipt: String,
    /// `managedDomains`: the provider's PEC domains, lowercase, no trailing dot.
    pub managed_domains: Vec<String>,
    /// `description`.
    pub description: Option<String>,
    /// `LDIFLocationURL`: where the provider publishes its signed record.
    pub ldif_location_url: Option<String>,
}

/// The whole index, with lookups by certificate hash and by domain.
///
/// When two records list the same hash or domain, the lookups answer with the first
/// record in file order; the others stay visible in [`ProvidersIndex::providers`].
#[derive(Clone, Debug, Default)]
pub struct ProvidersIndex {
    providers: Vec<Provider>,
    by_hash: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
}

/// Why an index was refused.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The LDIF itself is malformed.
    #[error("providers index: {0}")]
    Ldif(#[from] LdifError),
    /// A provider record lacks an attribute the `provider` object class MUSTs.
    #[error("providers index: `{dn}` has no {attribute}")]
    MissingAttribute {
        /// The record's DN.
        dn: String,
        /// The missing attribute.
        attribute: &'static str,
    },
    /// A provider attribute has a value pecd cannot use.
    #[error("providers index: `{dn}` has an invalid {attribute}: {reason}")]
    InvalidValue {
        /// The record's DN.
        dn: String,
        /// The attribute.
        attribute: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Provider {
    /// Whether `domain` (any case, trailing dot tolerated) is one of `managedDomains`.
    pub fn manages(&self, domain: &str) -> bool {
        let domain = normalize_domain(domain);
        self.managed_domains.contains(&domain)
    }

    /// The DN: `[providerUnit=<unit>,]providerName=<name>,o=postacert`.
    pub fn dn(&self) -> String {
        let main = format!("providerName={},{BASE_DN}", escape_dn_value(&self.name));
        match &self.unit {
            Some(unit) => format!("providerUnit={},{main}", escape_dn_value(unit)),
            None => main,
        }
    }

    /// The record in the RFC 6109 §4.5 schema.
    pub fn to_entry(&self) -> Entry {
        let mut entry = Entry {
            dn: self.dn(),
            attributes: Vec::new(),
        };
        entry.push("objectClass", "provider");
        entry.push("providerName", self.name.as_str());
        if let Some(unit) = &self.unit {
            entry.push("providerUnit", unit.as_str());
        }
        for hash in &self.certificate_hashes {
            entry.push("providerCertificateHash", hash.as_str());
        }
        for certificate in &self.certificates {
            entry.push("providerCertificate;binary", certificate.as_slice());
        }
        entry.push("mailReceipt", self.mail_receipt.as_str());
        for domain in &self.managed_domains {
            entry.push("managedDomains", domain.as_str());
        }
        if let Some(description) = &self.description {
            entry.push("description", description.as_str());
        }
        if let Some(url) = &self.ldif_location_url {
            entry.push("LDIFLocationURL", url.as_str());
        }
        entry
    }

    /// The record as LDIF, ending in `\n`. Records joined by blank lines form an index.
    pub fn to_ldif(&self) -> String {
        ldif::write_entry(&self.to_entry())
    }

    /// Reads a provider record; `dn` and the attribute name appear in every error.
    fn from_entry(entry: &Entry) -> Result<Provider, IndexError> {
        let certificate_hashes = required(entry, "providerCertificateHash")?
            .into_iter()
            .map(|hash| {
                let hash = normalize_hash(text(entry, "providerCertificateHash", hash)?);
                if hash.len() == 40 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                    Ok(hash)
                } else {
                    Err(invalid(entry, "providerCertificateHash", "not a SHA-1 hex"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let managed_domains = required(entry, "managedDomains")?
            .into_iter()
            .map(|domain| {
                let domain = normalize_domain(text(entry, "managedDomains", domain)?);
                if domain.is_empty() {
                    Err(invalid(entry, "managedDomains", "empty domain"))
                } else {
                    Ok(domain)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let unit = match optional(entry, "providerUnit")? {
            Some(unit) => Some(unit),
            None => unit_from_dn(&entry.dn),
        };
        Ok(Provider {
            name: single(entry, "providerName")?,
            unit,
            certificate_hashes,
            certificates: required(entry, "providerCertificate")?
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect(),
            mail_receipt: single(entry, "mailReceipt")?,
            managed_domains,
            description: optional(entry, "description")?,
            ldif_location_url: optional(entry, "LDIFLocationURL")?,
        })
    }
}

impl ProvidersIndex {
    /// Builds the index and its lookups from provider records, in order.
    pub fn new(providers: Vec<Provider>) -> ProvidersIndex {
        let mut by_hash = HashMap::new();
        let mut by_domain = HashMap::new();
        for (position, provider) in providers.iter().enumerate() {
            for hash in &provider.certificate_hashes {
                by_hash.entry(normalize_hash(hash)).or_insert(position);
            }
            for domain in &provider.managed_domains {
                by_domain
                    .entry(normalize_domain(domain))
                    .or_insert(position);
            }
        }
        ProvidersIndex {
            providers,
            by_hash,
            by_domain,
        }
    }

    /// Reads the index from LDIF.
    ///
    /// Records with `objectClass: provider`, or with both `providerName` and
    /// `providerCertificateHash`, are providers; everything else (the `o=postacert`
    /// root, `LDIFLocationURLObject`-only entries) is skipped. A provider record
    /// missing a MUST attribute is an error, not a skipped record: the index is trust
    /// material, and a half-read index silently turns PEC mail into ordinary mail.
    pub fn from_ldif(bytes: &[u8]) -> Result<ProvidersIndex, IndexError> {
        let providers = ldif::parse(bytes)?
            .iter()
            .filter(|entry| is_provider(entry))
            .map(Provider::from_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProvidersIndex::new(providers))
    }

    /// Every provider record, in file order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider whose `providerCertificateHash` is `hex`: any case, `AB:CD:…` allowed.
    pub fn by_certificate_sha1(&self, hex: &str) -> Option<&Provider> {
        self.lookup(&self.by_hash, &normalize_hash(hex))
    }

    /// The provider managing `domain`: any case, trailing dot tolerated.
    pub fn by_domain(&self, domain: &str) -> Option<&Provider> {
        self.lookup(&self.by_domain, &normalize_domain(domain))
    }

    /// Whether `address` (`local@domain`, optionally in `<…>`) is a PEC mailbox: its
    /// domain is in some provider's `managedDomains` (RFC 6109 §4.5).
    pub fn is_certified(&self, address: &str) -> bool {
        let address = address.trim();
        let address = address
            .strip_prefix('<')
            .and_then(|inner| inner.strip_suffix('>'))
            .unwrap_or(address);
        match address.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() => self.by_domain(domain).is_some(),
            _ => false,
        }
    }

    /// The whole index as one LDIF file (`version: 1`, then every record).
    pub fn to_ldif(&self) -> String {
        let entries: Vec<Entry> = self.providers.iter().map(Provider::to_entry).collect();
        ldif::write(&entries)
    }

    fn lookup(&self, map: &HashMap<String, usize>, key: &str) -> Option<&Provider> {
        map.get(key)
            .and_then(|&position| self.providers.get(position))
    }
}

/// Lowercase hex without `:` or whitespace.
fn normalize_hash(hex: &str) -> String {
    hex.chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Lowercase, without surrounding whitespace or a trailing dot.
fn normalize_domain(domain: &str) -> String {
    let domain = domain.trim();
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}

fn is_provider(entry: &Entry) -> bool {
    let has_class = entry
        .values("objectClass")
        .any(|class| class.eq_ignore_ascii_case(b"provider"));
    has_class
        || (entry.values("providerName").next().is_some()
            && entry.values("providerCertificateHash").next().is_some())
}

fn required<'a>(entry: &'a Entry, attribute: &'static str) -> Result<Vec<&'a [u8]>, IndexError> {
    let values: Vec<&[u8]> = entry.values(attribute).collect();
    if values.is_empty() {
        return Err(IndexError::MissingAttribute {
            dn: entry.dn.clone(),
            attribute,
        });
    }
    Ok(values)
}

/// A SINGLE-VALUE attribute the schema MUSTs.
fn single(entry: &Entry, attribute: &'static str) -> Result<String, IndexError> {
    match required(entry, attribute)?.as_slice() {
        [value] => Ok(text(entry, attribute, value)?.to_owned()),
        _ => Err(invalid(
            entry,
            attribute,
            "single-valued but has several values",
        )),
    }
}

/// The first value of an optional attribute.
fn optional(entry: &Entry, attribute: &'static str) -> Result<Option<String>, IndexError> {
    entry
        .values(attribute)
        .next()
        .map(|value| text(entry, attribute, value).map(str::to_owned))
        .transpose()
}

fn text<'a>(
    entry: &Entry,
    attribute: &'static str,
    value: &'a [u8],
) -> Result<&'a str, IndexError> {
    std::str::from_utf8(value).map_err(|_| invalid(entry, attribute, "not UTF-8"))
}

fn invalid(entry: &Entry, attribute: &'static str, reason: &'static str) -> IndexError {
    IndexError::InvalidValue {
        dn: entry.dn.clone(),
        attribute,
        reason,
    }
}

/// The unit named by a leading `providerUnit=` RDN, for records without the attribute.
fn unit_from_dn(dn: &str) -> Option<String> {
    let (kind, value) = dn.split_once('=')?;
    if !kind.trim().eq_ignore_ascii_case("providerUnit") {
        return None;
    }
    Some(unescape_rdn_value(value))
}

/// RFC 4514 §2.4: escapes an attribute value for a DN.
fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (position, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if position == 0 => out.push_str("\\#"),
            ' ' if position == 0 || position == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// RFC 4514 §3: reads the first RDN's value, up to the first unescaped `,` or `+`.
fn unescape_rdn_value(value: &str) -> String {
    let bytes = value.trim_start().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        position += 1;
        match byte {
            b',' | b'+' => break,
            b'\\' => {
                let hex = bytes
                    .get(position..position + 2)
                    .filter(|pair| pair.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok());
                if let Some(decoded) = hex {
                    out.push(decoded);
                    position += 2;
                } else if let Some(&escaped) = bytes.get(position) {
                    out.push(escaped);
                    position += 1;
                }
            }
            _ => out.push(byte),
        }
    }
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../../tests/data/index/two-providers.ldif");
    const ALPHA_OLD: &str = "8e9d30fbbb9ce5967d6a576c57ea309d95fede9d";
    const ALPHA_NEW: &str = "8b2cb17cb6878e44ed7158a83fda6cedad509db6";

    fn sample() -> ProvidersIndex {
        ProvidersIndex::from_ldif(SAMPLE).unwrap()
    }

    fn provider(name: &str, domain: &str) -> Provider {
        Provider {
            name: name.to_owned(),
            unit: None,
            certificate_hashes: vec!["00".repeat(20)],
            certificates: vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]],
            mail_receipt: format!("posta-certificata@{domain}"),
            managed_domains: vec![domain.to_owned()],
            description: None,
            ldif_location_url: None,
        }
    }

    #[test]
    fn sample_has_two_providers_and_a_secondary_environment() {
        let index = sample();
        let names: Vec<(&str, Option<&str>)> = index
            .providers()
            .iter()
            .map(|p| (p.name.as_str(), p.unit.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("Gestore Alpha S.p.A.", None),
                ("Gestore Beta S.r.l.", None),
                ("Gestore Beta S.r.l.", Some("Ambiente secondario")),
            ]
        );
        let alpha = &index.providers()[0];
        assert_eq!(alpha.certificates.len(), 2);
        assert!(
            alpha
                .certificates
                .iter()
                .all(|der| der.first() == Some(&0x30))
        );
        assert_eq!(alpha.certificate_hashes, [ALPHA_OLD, ALPHA_NEW]);
        assert_eq!(
            alpha.managed_domains,
            ["pec.alpha.example", "legalmail.alpha.example"]
        );
        assert_eq!(alpha.mail_receipt, "posta-certificata@pec.alpha.example");
        assert!(
            alpha
                .ldif_location_url
                .as_deref()
                .unwrap()
                .starts_with("https://")
        );
    }

    #[test]
    fn lookup_by_hash_ignores_case_and_colons() {
        let index = sample();
        let colons = "8E:9D:30:FB:BB:9C:E5:96:7D:6A:57:6C:57:EA:30:9D:95:FE:DE:9D";
        for hash in [ALPHA_OLD, &ALPHA_NEW.to_uppercase(), colons] {
            let found = index.by_certificate_sha1(hash).map(|p| p.name.as_str());
            assert_eq!(found, Some("Gestore Alpha S.p.A."), "{hash}");
        }
        assert!(index.by_certificate_sha1(&"ab".repeat(20)).is_none());
    }

    #[test]
    fn shared_hash_resolves_to_the_first_record() {
        let index = sample();
        let beta = index.by_certificate_sha1("B56DB0ACC49C92594AC6D9E6763EC9FFA281514D");
        assert_eq!(beta.unwrap().unit, None);
    }

    #[test]
    fn lookup_by_domain_ignores_case_and_trailing_dot() {
        let index = sample();
        assert_eq!(
            index.by_domain("PEC.ALPHA.EXAMPLE.").unwrap().name,
            "Gestore Alpha S.p.A."
        );
        let unit = index.by_domain("Pec2.Beta.Example").unwrap();
        assert_eq!(unit.unit.as_deref(), Some("Ambiente secondario"));
        assert!(index.by_domain("alpha.example").is_none());
        assert!(unit.manages("PEC2.beta.example."));
    }

    #[test]
    fn certified_addresses_are_those_of_managed_domains() {
        let index = sample();
        assert!(index.is_certified("mario.rossi@LegalMail.Alpha.Example"));
        assert!(index.is_certified("<mario.rossi@pec.beta.example>"));
        assert!(!index.is_certified("mario.rossi@gmail.example"));
        assert!(!index.is_certified("pec.beta.example"));
        assert!(!index.is_certified("@pec.beta.example"));
    }

    #[test]
    fn provider_record_round_trips_through_ldif() {
        let index = sample();
        for provider in index.providers() {
            let again = ProvidersIndex::from_ldif(provider.to_ldif().as_bytes()).unwrap();
            assert_eq!(again.providers(), std::slice::from_ref(provider));
        }
        let again = ProvidersIndex::from_ldif(index.to_ldif().as_bytes()).unwrap();
        assert_eq!(again.providers(), index.providers());
    }

    #[test]
    fn concatenated_records_form_one_index() {
        let a = provider("Gestore, \"Uno\" + Figli", "pec.uno.example");
        let mut b = provider("#Due ", "pec.due.example");
        b.unit = Some("Test=1".to_owned());
        b.description = Some("secondo ambiente".to_owned());
        let text = [a.to_ldif(), b.to_ldif()].join("\n");
        assert!(text.contains("dn: providerName=Gestore\\, \\\"Uno\\\" \\+ Figli,o=postacert\n"));
        let index = ProvidersIndex::from_ldif(text.as_bytes()).unwrap();
        assert_eq!(index.providers(), [a, b]);
        assert!(index.is_certified("x@pec.due.example"));
    }

    #[test]
    fn unit_is_taken_from_the_dn_when_the_attribute_is_missing() {
        let mut entry = provider("Tre", "pec.tre.example").to_entry();
        entry.dn = "providerUnit=Sede\\2c Roma,providerName=Tre,o=postacert".to_owned();
        let index = ProvidersIndex::from_ldif(ldif::write_entry(&entry).as_bytes()).unwrap();
        assert_eq!(index.providers()[0].unit.as_deref(), Some("Sede, Roma"));
    }

    #[test]
    fn missing_must_attribute_names_the_dn_and_attribute() {
        let input = "dn: providerName=X,o=postacert\nobjectClass: provider\nproviderName: X\n\
                     providerCertificateHash: 0000000000000000000000000000000000000000\n\
                     providerCertificate;binary:: MAA=\nmanagedDomains: pec.x.example\n";
        let error = ProvidersIndex::from_ldif(input.as_bytes()).unwrap_err();
        assert!(matches!(
            error,
            IndexError::MissingAttribute { ref dn, attribute: "mailReceipt" }
                if dn == "providerName=X,o=postacert"
        ));
    }

    #[test]
    fn malformed_hash_and_duplicated_name_are_refused() {
        let mut entry = provider("X", "pec.x.example").to_entry();
        entry
            .attributes
            .retain(|a| a.kind() != "providerCertificateHash");
        entry.push("providerCertificateHash", "not-hex");
        let error = ProvidersIndex::from_ldif(ldif::write_entry(&entry).as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("invalid providerCertificateHash"),
            "{error}"
        );

        let mut entry = provider("X", "pec.x.example").to_entry();
        entry.push("providerName", "Y");
        let error = ProvidersIndex::from_ldif(ldif::write_entry(&entry).as_bytes()).unwrap_err();
        assert!(error.to_string().contains("several values"), "{error}");
    }

    #[test]
    fn non_provider_entries_are_skipped() {
        let input = "dn: o=postacert\nobjectClass: organization\no: postacert\n\n\
                     dn: cn=admin,o=postacert\nobjectClass: person\ncn: admin\n";
        assert!(
            ProvidersIndex::from_ldif(input.as_bytes())
                .unwrap()
                .providers()
                .is_empty()
        );
    }

    #[test]
    fn ldif_errors_are_reported_through_the_index() {
        let error = ProvidersIndex::from_ldif(b"dn: o=x\nbroken\n").unwrap_err();
        assert!(matches!(
            error,
            IndexError::Ldif(LdifError::Syntax { line: 2, .. })
        ));
    }
}
