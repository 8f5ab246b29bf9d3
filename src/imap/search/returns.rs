//! The result options imap-codec (2.0.0-alpha.10) does not parse: `SORT RETURN (…)`
//! (ESORT, RFC 5267 §3), the CONTEXT options of `SEARCH RETURN (…)` (`PARTIAL`,
//! `UPDATE`, `CONTEXT`, RFC 5267 §4) and the CANCELUPDATE command (RFC 5267 §4.3).
//! [`strip`] takes them off a command line so the codec parses the rest, as
//! [`crate::imap::extended`] does for the other extensions; the plain ESEARCH options
//! (`MIN`, `MAX`, `ALL`, `COUNT`) of SEARCH alone are left to it.
//!
//! Pure: bytes in, bytes and values out. A malformed or unknown option list is left
//! in place ([`ContextCommand::Malformed`]), so the codec refuses the command with BAD.

/// What a `RETURN (…)` asked for.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Returns {
    /// MIN: the first of the result (in sort order for SORT).
    pub min: bool,
    /// MAX: the last of the result.
    pub max: bool,
    /// ALL, or no option at all.
    pub all: bool,
    /// COUNT.
    pub count: bool,
    /// `PARTIAL first:last`: that stretch of the result, 1-based, ends in order.
    pub partial: Option<(u32, u32)>,
    /// UPDATE: report changes to the result until CANCELUPDATE (RFC 5267 §4.3).
    pub update: bool,
}

/// An extension command of RFC 5267 taken off the line.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ContextCommand {
    /// `SEARCH RETURN (…)` or `SORT RETURN (…)` with options the codec lacks.
    Returns(Returns),
    /// `CANCELUPDATE "tag" …`: the tags whose updates end. The line given to the codec
    /// is a NOOP with the same tag.
    CancelUpdate(Vec<String>),
    /// Result options that are unknown or malformed: the line stays as it was, for
    /// the codec to refuse with BAD.
    Malformed,
}

/// Splits RFC 5267 syntax off a complete command; `None` when there is none (the
/// line goes to the other pre-parsers unchanged).
pub fn strip(message: &[u8]) -> Option<(Vec<u8>, ContextCommand)> {
    let space = message.iter().position(|b| *b == b' ')?;
    let (tag, rest) = (message.get(..space)?, message.get(space + 1..)?);
    let upper = rest.to_ascii_uppercase();
    if let Some(tags) = upper.strip_prefix(b"CANCELUPDATE ") {
        let tags = quoted_strings(&rest[rest.len() - tags.len()..])?;
        let mut line = tag.to_vec();
        line.extend_from_slice(b" NOOP\r\n");
        return Some((line, ContextCommand::CancelUpdate(tags)));
    }
    let uid = usize::from(upper.starts_with(b"UID ")) * 4;
    let after_verb = [&b"SEARCH RETURN ("[..], b"SORT RETURN ("]
        .iter()
        .find(|verb| upper[uid..].starts_with(verb))
        .map(|verb| uid + verb.len() - 1)?;
    let is_sort = upper[uid..].starts_with(b"SORT");
    let options = rest.get(after_verb..)?;
    let malformed = || Some((message.to_vec(), ContextCommand::Malformed));
    let Some(close) = options.iter().position(|b| *b == b')') else {
        return malformed();
    };
    let Some(returns) = options.get(1..close).and_then(parse_options) else {
        return malformed();
    };
    if !is_sort && returns.partial.is_none() && !returns.update {
        return None;
    }
    let mut line = message[..space + 1].to_vec();
    line.extend_from_slice(&rest[..after_verb - "RETURN ".len()]);
    line.extend_from_slice(options.get(close + 1..)?.trim_ascii_start());
    Some((line, ContextCommand::Returns(returns)))
}

/// The options inside `RETURN (…)`; `None` when one is unknown or malformed.
fn parse_options(options: &[u8]) -> Option<Returns> {
    let mut returns = Returns::default();
    let mut words = options
        .split(|b| *b == b' ')
        .filter(|word| !word.is_empty());
    while let Some(word) = words.next() {
        match word.to_ascii_uppercase().as_slice() {
            b"MIN" => returns.min = true,
            b"MAX" => returns.max = true,
            b"ALL" => returns.all = true,
            b"COUNT" => returns.count = true,
            b"UPDATE" => returns.update = true,
            // A hint that the client will ask again (§4.2); nothing to keep.
            b"CONTEXT" => {}
            b"PARTIAL" => returns.partial = Some(partial_range(words.next()?)?),
            _ => return None,
        }
    }
    // No option but UPDATE asks for no initial result (§4.3); none at all asks ALL.
    if !(returns.min || returns.max || returns.count || returns.update) && returns.partial.is_none()
    {
        returns.all = true;
    }
    Some(returns)
}

/// `partial-range` = nz-number ":" nz-number, either way round.
fn partial_range(word: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(word).ok()?;
    let (first, last) = text.split_once(':')?;
    let number = |n: &str| n.parse::<u32>().ok().filter(|n| *n > 0);
    let (first, last) = (number(first)?, number(last)?);
    Some((first.min(last), first.max(last)))
}

/// One or more quoted strings separated by spaces, up to the line end.
fn quoted_strings(bytes: &[u8]) -> Option<Vec<String>> {
    let line = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))?;
    let mut tags = Vec::new();
    for word in line.split(|b| *b == b' ').filter(|word| !word.is_empty()) {
        let inner = word.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if inner.is_empty() || inner.iter().any(|b| matches!(b, b'"' | b'\\')) {
            return None;
        }
        tags.push(String::from_utf8(inner.to_vec()).ok()?);
    }
    (!tags.is_empty()).then_some(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_return_is_taken_off() {
        let (line, command) =
            strip(b"t1 UID SORT RETURN (MIN PARTIAL 4:2) (ARRIVAL) US-ASCII ALL\r\n").unwrap();
        assert_eq!(line, b"t1 UID SORT (ARRIVAL) US-ASCII ALL\r\n");
        let ContextCommand::Returns(returns) = command else {
            panic!("{command:?}");
        };
        assert!(returns.min && !returns.all);
        assert_eq!(returns.partial, Some((2, 4)));
    }

    #[test]
    fn search_keeps_plain_esearch_for_the_other_parser() {
        assert!(strip(b"t SEARCH RETURN (MIN COUNT) SEEN\r\n").is_none());
        let (line, command) = strip(b"t SEARCH RETURN (UPDATE) BODY x\r\n").unwrap();
        assert_eq!(line, b"t SEARCH BODY x\r\n");
        let ContextCommand::Returns(returns) = command else {
            panic!("{command:?}");
        };
        assert!(returns.update && !returns.all);
    }

    #[test]
    fn malformed_ranges_stay_for_the_codec_to_refuse() {
        for line in [
            &b"t SEARCH RETURN (PARTIAL 1) ALL\r\n"[..],
            b"t SEARCH RETURN (PARTIAL 1:*) ALL\r\n",
            b"t SEARCH RETURN (PARTIAL *:1) ALL\r\n",
            b"t SORT RETURN (PARTIAL 0:1) (ARRIVAL) US-ASCII ALL\r\n",
        ] {
            let (kept, command) = strip(line).unwrap();
            assert_eq!(
                (kept.as_slice(), command),
                (line, ContextCommand::Malformed)
            );
        }
    }

    #[test]
    fn cancelupdate_becomes_a_noop() {
        let (line, command) = strip(b"c1 CANCELUPDATE \"s1\" \"s2\"\r\n").unwrap();
        assert_eq!(line, b"c1 NOOP\r\n");
        assert_eq!(
            command,
            ContextCommand::CancelUpdate(vec!["s1".into(), "s2".into()])
        );
        assert!(strip(b"c1 CANCELUPDATE\r\n").is_none());
        assert!(strip(b"c1 CANCELUPDATE s1\r\n").is_none());
    }
}
