//! LIST-EXTENDED (RFC 5258) taken off a LIST command: selection options before the
//! reference, a parenthesised list of patterns, and return options (with LIST-STATUS,
//! RFC 5819, and SPECIAL-USE, RFC 6154). What imap-codec is then given is a plain
//! RFC 3501 LIST; an option nobody defined is refused (RFC 5258 §3: BAD).

use super::ListOptions;
use super::atoms;
use super::parenthesised;
use super::status_items;

/// Takes the extended syntax off a LIST whose arguments start at `args_at`: the
/// command for the codec and the options, or why the command is refused.
pub(super) fn strip(
    message: &[u8],
    args_at: usize,
) -> Result<(Vec<u8>, ListOptions), &'static str> {
    let mut options = ListOptions::default();
    let mut rest = &message[args_at..];
    if rest.first() == Some(&b'(') {
        let Some((selection, after)) = parenthesised(rest) else {
            return Ok((message.to_vec(), options));
        };
        selection_options(&selection, &mut options)?;
        options.extended = true;
        rest = after.trim_ascii_start();
    }
    let mut out = message[..args_at].to_vec();
    let Some(reference) = token_len(rest) else {
        out.extend_from_slice(rest);
        return Ok((out, options));
    };
    out.extend_from_slice(&rest[..reference]);
    rest = &rest[reference..];
    if rest.starts_with(b" (") {
        let Some((patterns, after)) = parenthesised(&rest[1..]) else {
            return Err("literals in a pattern list are not supported");
        };
        options.patterns = pattern_list(&patterns)?;
        options.extended = true;
        // The codec gets one pattern; the session uses the list.
        out.extend_from_slice(b" \"\"");
        rest = after;
    } else if let Some(pattern) = rest.get(1..).and_then(token_len) {
        out.extend_from_slice(&rest[..pattern + 1]);
        rest = &rest[pattern + 1..];
    }
    if rest.len() > 9 && rest[..9].eq_ignore_ascii_case(b" RETURN (") {
        let Some((returned, after)) = parenthesised(&rest[8..]) else {
            return Err("unreadable RETURN options");
        };
        return_options(&returned, &mut options)?;
        options.extended = true;
        rest = after;
    }
    out.extend_from_slice(rest);
    Ok((out, options))
}

fn selection_options(selection: &[u8], options: &mut ListOptions) -> Result<(), &'static str> {
    for option in atoms(selection) {
        match option.as_slice() {
            b"SUBSCRIBED" => options.select_subscribed = true,
            b"SPECIAL-USE" => options.select_special_use = true,
            b"RECURSIVEMATCH" => options.recursive_match = true,
            // Every folder here is local.
            b"REMOTE" => {}
            _ => return Err("unknown LIST selection option"),
        }
    }
    // RECURSIVEMATCH only modifies another selection option (RFC 5258 §3.1).
    if options.recursive_match && !(options.select_subscribed || options.select_special_use) {
        return Err("RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE");
    }
    Ok(())
}

fn return_options(returned: &[u8], options: &mut ListOptions) -> Result<(), &'static str> {
    let upper = returned.to_ascii_uppercase();
    let mut rest = upper.trim_ascii();
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b' ' || *b == b'(')
            .unwrap_or(rest.len());
        match &rest[..end] {
            b"SUBSCRIBED" => options.return_subscribed = true,
            b"CHILDREN" => options.return_children = true,
            b"SPECIAL-USE" => {}
            b"STATUS" => {
                let Some((items, after)) = parenthesised(rest[end..].trim_ascii_start()) else {
                    return Err("unreadable RETURN (STATUS …)");
                };
                options.return_status = status_items(&items);
                rest = after.trim_ascii_start();
                continue;
            }
            _ => return Err("unknown LIST return option"),
        }
        rest = rest[end..].trim_ascii_start();
    }
    Ok(())
}

/// The patterns of `(p1 "p 2" …)`: atoms and quoted strings.
fn pattern_list(inside: &[u8]) -> Result<Vec<String>, &'static str> {
    let mut patterns = Vec::new();
    let mut rest = inside.trim_ascii();
    while !rest.is_empty() {
        let Some(len) = token_len(rest) else {
            return Err("unreadable pattern");
        };
        patterns.push(unquote(&rest[..len]));
        rest = rest[len..].trim_ascii_start();
    }
    if patterns.is_empty() {
        return Err("empty pattern list");
    }
    Ok(patterns)
}

/// The length of the string or atom at the start of `bytes` (a quoted string, a
/// literal with its data, or a run up to a space, a parenthesis or the line end).
fn token_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        b'"' => {
            let mut escaped = false;
            for (i, byte) in bytes.iter().enumerate().skip(1) {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => return Some(i + 1),
                    b'\r' | b'\n' => return None,
                    _ => {}
                }
            }
            None
        }
        b'{' => {
            let close = bytes.iter().position(|b| *b == b'}')?;
            let digits = std::str::from_utf8(&bytes[1..close]).ok()?;
            let length: usize = digits.trim_end_matches('+').parse().ok()?;
            let data = close + 3;
            // The length is the client's: any number its digits spell.
            let end = data.checked_add(length)?;
            (bytes.get(close + 1..data)? == b"\r\n" && bytes.len() >= end).then_some(end)
        }
        _ => {
            let end = bytes
                .iter()
                .position(|b| matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n'))
                .unwrap_or(bytes.len());
            (end > 0).then_some(end)
        }
    }
}

fn unquote(token: &[u8]) -> String {
    let Some(inner) = token
        .strip_prefix(b"\"")
        .and_then(|t| t.strip_suffix(b"\""))
    else {
        return String::from_utf8_lossy(token).into_owned();
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &byte in inner {
        if byte == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(byte);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(line: &[u8]) -> Result<(Vec<u8>, ListOptions), &'static str> {
        strip(line, line.iter().position(|b| *b == b'T').unwrap() + 2)
    }

    #[test]
    fn several_patterns_become_one_for_the_codec() {
        let (line, options) = list(b"a LIST \"\" (box/*2 \"box/test 3\")\r\n").unwrap();
        assert_eq!(line, b"a LIST \"\" \"\"\r\n");
        assert_eq!(options.patterns, ["box/*2", "box/test 3"]);
        assert!(options.extended);
    }

    #[test]
    fn selection_and_return_options() {
        let (line, options) = list(
            b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" box/% RETURN (CHILDREN STATUS (MESSAGES))\r\n",
        )
        .unwrap();
        assert_eq!(line, b"a LIST \"\" box/%\r\n");
        assert!(options.select_subscribed && options.recursive_match && options.return_children);
        assert_eq!(options.return_status.len(), 1);
        let (line, options) = list(b"a LIST {3}\r\nabc *\r\n").unwrap();
        assert_eq!(line, b"a LIST {3}\r\nabc *\r\n");
        assert!(!options.extended);
    }

    #[test]
    fn a_literal_length_past_the_address_space_is_unreadable() {
        // Left as it came for the codec, which refuses it.
        let line = b"a LIST {18446744073709551615}\r\nx *\r\n";
        let (out, options) = list(line).unwrap();
        assert_eq!(out, line);
        assert!(!options.extended);
    }

    #[test]
    fn unknown_options_are_refused() {
        assert!(list(b"a LIST (imaptest) \"\" \"\"\r\n").is_err());
        assert!(list(b"a LIST (recursivematch) \"\" \"\"\r\n").is_err());
        assert!(list(b"a LIST (recursivematch remote) \"\" \"\"\r\n").is_err());
        assert!(list(b"a LIST \"\" \"\" return (imaptest)\r\n").is_err());
        assert!(list(b"a LIST (remote) \"\" %\r\n").is_ok());
    }
}
