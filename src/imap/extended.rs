//! The command syntax imap-codec (2.0.0-alpha.10) does not parse yet: LIST-EXTENDED
//! selection options, pattern lists and return options (RFC 5258, RFC 5819
//! `RETURN (STATUS …)`, in [`list`]), `SEARCH RETURN (…)` (ESEARCH, RFC 4731) and NOTIFY
//! (RFC 5465, in [`notify`]). [`Extended::strip`] takes them off the
//! command line, so the codec parses the RFC 3501 remainder, and keeps them for the
//! session; [`esearch`] writes the one response the codec cannot encode.
//!
//! Pure: bytes in, bytes and values out.

pub mod append;
mod list;
pub mod notify;
mod reader;

use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::status::StatusDataItemName;

/// Options found on a LIST command.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ListOptions {
    /// `LIST (SUBSCRIBED)`.
    pub select_subscribed: bool,
    /// `LIST (SPECIAL-USE)` (RFC 6154 §5.1).
    pub select_special_use: bool,
    /// `RETURN (SUBSCRIBED)`.
    pub return_subscribed: bool,
    /// `RETURN (STATUS (…))` (RFC 5819).
    pub return_status: Vec<StatusDataItemName>,
    /// `LIST (… RECURSIVEMATCH)`: parents of matches outside the pattern are listed
    /// with CHILDINFO.
    pub recursive_match: bool,
    /// `RETURN (CHILDREN)`.
    pub return_children: bool,
    /// `LIST ref (p1 p2 …)`: the patterns, when given as a list.
    pub patterns: Vec<String>,
    /// Any of the extended syntax was used (RFC 5258 §3).
    pub extended: bool,
}

/// ESEARCH result options (RFC 4731 §3.1); none given means ALL.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct SearchReturn {
    /// MIN.
    pub min: bool,
    /// MAX.
    pub max: bool,
    /// ALL.
    pub all: bool,
    /// COUNT.
    pub count: bool,
}

/// What was taken off a command line.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Extended {
    /// LIST options.
    pub list: ListOptions,
    /// ESEARCH options, when the client asked for ESEARCH.
    pub search: Option<SearchReturn>,
    /// ESORT and CONTEXT=SEARCH syntax (RFC 5267, [`crate::imap::search::returns`]).
    pub context: Option<crate::imap::search::returns::ContextCommand>,
    /// Why the command is refused with BAD before the codec sees it (an option no
    /// extension defines).
    pub refusal: Option<&'static str>,
    /// A MULTIAPPEND or CATENATE APPEND (see [`Extended::appends`]); the command the
    /// codec is given then only carries its tag.
    pub appends: Option<append::Appends>,
    /// A NOTIFY (RFC 5465), or why it is refused; the command the codec is given then
    /// only carries its tag.
    pub notify: Option<Result<notify::Notify, notify::Refusal>>,
}

impl Extended {
    /// Splits the extension syntax off a complete command (`line` includes CRLF and
    /// any literals). Returns the command for the codec, rewritten only when something
    /// was taken off.
    pub fn strip(message: &[u8]) -> (Vec<u8>, Extended) {
        let mut extended = Extended::default();
        if let Some((line, context)) = crate::imap::search::returns::strip(message) {
            extended.context = Some(context);
            return (line, extended);
        }
        let Some(words) = head(message) else {
            return (message.to_vec(), extended);
        };
        let mut verb_at = words.1;
        let upper = message.to_ascii_uppercase();
        let mut verb = word_at(&upper, verb_at);
        if verb == b"UID" {
            verb_at += 4;
            verb = word_at(&upper, verb_at);
        }
        let args_at = verb_at + verb.len() + 1;
        if args_at > message.len() {
            return (message.to_vec(), extended);
        }
        match verb {
            b"NOTIFY" if verb_at == words.1 => {
                extended.notify = Some(notify::parse(message, args_at));
                let mut line = words.0.to_vec();
                line.extend_from_slice(b" NOOP\r\n");
                (line, extended)
            }
            b"LIST" => match list::strip(message, args_at) {
                Ok((out, options)) => {
                    extended.list = options;
                    (out, extended)
                }
                Err(why) => {
                    extended.refusal = Some(why);
                    (message.to_vec(), extended)
                }
            },
            b"SEARCH" => {
                let rest = &message[args_at..];
                if !rest.to_ascii_uppercase().starts_with(b"RETURN (") {
                    return (message.to_vec(), extended);
                }
                let Some((options, after)) = parenthesised(&rest[7..]) else {
                    return (message.to_vec(), extended);
                };
                let mut wanted = SearchReturn::default();
                for option in atoms(&options) {
                    match option.as_slice() {
                        b"MIN" => wanted.min = true,
                        b"MAX" => wanted.max = true,
                        b"ALL" => wanted.all = true,
                        b"COUNT" => wanted.count = true,
                        _ => {}
                    }
                }
                if !(wanted.min || wanted.max || wanted.count) {
                    wanted.all = true;
                }
                extended.search = Some(wanted);
                let mut out = message[..args_at].to_vec();
                out.extend_from_slice(after.trim_ascii_start());
                (out, extended)
            }
            _ => (message.to_vec(), extended),
        }
    }
}

impl Extended {
    /// An APPEND of several messages or of CATENATE parts, which the codec refused:
    /// its messages, when the command is one.
    pub fn appends(message: &[u8]) -> Option<append::Appends> {
        let (_, verb_at) = head(message)?;
        let upper = message.to_ascii_uppercase();
        if word_at(&upper, verb_at) != b"APPEND" {
            return None;
        }
        append::parse(message, verb_at + b"APPEND ".len())
    }
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set] [MODSEQ m]`.
pub fn esearch(
    tag: &Tag<'_>,
    by_uid: bool,
    options: &SearchReturn,
    numbers: &[u32],
    modseq: Option<u64>,
) -> Vec<u8> {
    let mut line = format!("* ESEARCH (TAG \"{}\")", tag.inner());
    if by_uid {
        line.push_str(" UID");
    }
    if !numbers.is_empty() {
        if options.min
            && let Some(min) = numbers.iter().min()
        {
            line.push_str(&format!(" MIN {min}"));
        }
        if options.max
            && let Some(max) = numbers.iter().max()
        {
            line.push_str(&format!(" MAX {max}"));
        }
    }
    if options.count {
        line.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if options.all && !numbers.is_empty() {
        line.push_str(&format!(" ALL {}", compress(numbers)));
    }
    if let Some(modseq) = modseq {
        line.push_str(&format!(" MODSEQ {modseq}"));
    }
    line.push_str("\r\n");
    line.into_bytes()
}

/// Numbers as a sequence set, runs collapsed: `1:3,7,9:10`. Order is kept, so paired
/// sets (COPYUID) stay paired.
pub fn compress(numbers: &[u32]) -> String {
    runs(numbers)
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Consecutive runs, order kept: `[1, 2, 3, 7]` → `[(1, 3), (7, 7)]`.
pub fn runs(numbers: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &n in numbers {
        match out.last_mut() {
            Some((_, end)) if n == end.wrapping_add(1) => *end = n,
            _ => out.push((n, n)),
        }
    }
    out
}

/// The tag and the offset of the verb, when the line starts `tag SP verb`.
fn head(message: &[u8]) -> Option<(&[u8], usize)> {
    let space = message.iter().position(|b| *b == b' ')?;
    let line_end = message.iter().position(|b| *b == b'\r' || *b == b'\n')?;
    (space < line_end).then_some((&message[..space], space + 1))
}

fn word_at(upper: &[u8], at: usize) -> &[u8] {
    let rest = upper.get(at..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// `(…)` at the start of `bytes` (nesting respected): its inside and what follows.
fn parenthesised(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if bytes.first() != Some(&b'(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, byte) in bytes.iter().enumerate() {
        match byte {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((bytes[1..i].to_vec(), &bytes[i + 1..]));
                }
            }
            b'\r' | b'\n' => return None,
            _ => {}
        }
    }
    None
}

fn atoms(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|b| *b == b' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

fn status_items(bytes: &[u8]) -> Vec<StatusDataItemName> {
    atoms(bytes)
        .iter()
        .filter_map(|item| {
            Some(match item.as_slice() {
                b"MESSAGES" => StatusDataItemName::Messages,
                b"RECENT" => StatusDataItemName::Recent,
                b"UIDNEXT" => StatusDataItemName::UidNext,
                b"UIDVALIDITY" => StatusDataItemName::UidValidity,
                b"UNSEEN" => StatusDataItemName::Unseen,
                b"HIGHESTMODSEQ" => StatusDataItemName::HighestModSeq,
                _ => return None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_extended_options_are_taken_off() {
        let (line, ext) = Extended::strip(
            b"a1 LIST (SUBSCRIBED) \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n",
        );
        assert_eq!(line, b"a1 LIST \"\" \"*\"\r\n");
        assert!(ext.list.select_subscribed);
        assert_eq!(
            ext.list.return_status,
            vec![StatusDataItemName::Messages, StatusDataItemName::Unseen]
        );
    }

    #[test]
    fn plain_commands_pass_unchanged() {
        let (line, ext) = Extended::strip(b"a1 LIST \"\" *\r\n");
        assert_eq!(line, b"a1 LIST \"\" *\r\n");
        assert_eq!(ext, Extended::default());
        let (line, _) = Extended::strip(b"garbage");
        assert_eq!(line, b"garbage");
    }

    #[test]
    fn search_return_options_are_taken_off() {
        let (line, ext) = Extended::strip(b"t UID SEARCH RETURN (MIN COUNT) SEEN\r\n");
        assert_eq!(line, b"t UID SEARCH SEEN\r\n");
        let wanted = ext.search.unwrap();
        assert!(wanted.min && wanted.count && !wanted.all && !wanted.max);
        let (_, ext) = Extended::strip(b"t SEARCH RETURN () ALL\r\n");
        assert!(ext.search.unwrap().all);
    }

    #[test]
    fn esearch_lines() {
        let tag = Tag::try_from("A282").unwrap();
        let options = SearchReturn {
            min: true,
            max: true,
            all: true,
            count: true,
        };
        assert_eq!(
            esearch(&tag, true, &options, &[2, 3, 4, 10], None),
            b"* ESEARCH (TAG \"A282\") UID MIN 2 MAX 10 COUNT 4 ALL 2:4,10\r\n"
        );
        assert_eq!(
            esearch(&tag, false, &options, &[], None),
            b"* ESEARCH (TAG \"A282\") COUNT 0\r\n"
        );
    }
}
