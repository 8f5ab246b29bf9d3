//! PEC message identifiers (RFC 6109 §2.2.1): `[alphanumeric]@[provider mail domain]`,
//! unique in the whole PEC network.

use crate::pec::time::LocalTime;

/// A PEC msgid, without angle brackets: `pecd.<yyyymmddhhmmss>.<16 hex>@<domain>`.
///
/// `unique` must not repeat within the provider (callers draw it from a random source
/// or a durable counter); the time prefix keeps identifiers readable and sortable, as
/// the `opec…` identifiers of other providers are.
pub fn pec_msgid(time: &LocalTime, unique: u64, domain: &str) -> String {
    let stamp: String = format!("{}{}", time.giorno(), time.ora())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    // giorno is dd/mm/yyyy: reorder to yyyymmdd for sortable identifiers.
    let (day, rest) = stamp.split_at(2.min(stamp.len()));
    let (month, rest) = rest.split_at(2.min(rest.len()));
    let (year, clock) = rest.split_at(4.min(rest.len()));
    format!("pecd.{year}{month}{day}{clock}.{unique:016x}@{domain}")
}

/// Wraps an identifier in angle brackets for a `Message-ID` header, unless it already is.
pub fn bracketed(id: &str) -> String {
    let id = id.trim();
    if id.starts_with('<') && id.ends_with('>') {
        id.to_string()
    } else {
        format!("<{id}>")
    }
}

/// Removes surrounding angle brackets and blanks.
pub fn unbracketed(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_sortable_and_unique_per_counter() {
        let time = LocalTime::parse("05/12/2024", "00:02:10", "+0100").unwrap();
        assert_eq!(
            pec_msgid(&time, 0xabc, "pec-a.test"),
            "pecd.20241205000210.0000000000000abc@pec-a.test"
        );
        assert_eq!(bracketed("a@b"), "<a@b>");
        assert_eq!(bracketed("<a@b>"), "<a@b>");
        assert_eq!(unbracketed(" <a@b> "), "a@b");
    }
}
