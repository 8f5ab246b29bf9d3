//! LIST patterns (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
//! hierarchy delimiter, in time bounded by pattern length × name length.

use crate::imap::session::folder_limits::MAX_FOLDER_NAME_CHARS;
use crate::imap::session::names::DELIMITER;
use crate::store::mailbox::INBOX;

/// IMAP wildcards (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
/// hierarchy delimiter; `INBOX` matches case-insensitively.
///
/// The pattern is run as a set of positions advanced one name character at a time, so
/// the work is bounded by pattern length × name length whatever the pattern: a
/// recursive matcher backtracks exponentially on patterns like `*a*a*a*a*b`, and a
/// logged-in user chooses the pattern.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    // No folder name is longer than the most a CREATE allows: a longer run of
    // literals matches nothing, and the work stays bounded by that length too.
    if pattern.chars().filter(|c| !matches!(c, '*' | '%')).count() > MAX_FOLDER_NAME_CHARS {
        return false;
    }
    if name == INBOX && Pattern::new(&pattern.to_ascii_uppercase()).matches(name).0 {
        return true;
    }
    Pattern::new(pattern).matches(name).0
}

/// A LIST pattern ready for matching.
struct Pattern {
    symbols: Vec<char>,
}

impl Pattern {
    /// A run of wildcards matches what its widest one does (`*` if it holds one, else
    /// `%`), so each run becomes one symbol.
    fn new(pattern: &str) -> Pattern {
        let mut symbols: Vec<char> = Vec::new();
        for symbol in pattern.chars() {
            match (symbols.last_mut(), symbol) {
                (Some(last @ ('*' | '%')), '*') => *last = '*',
                (Some('*' | '%'), '%') => {}
                _ => symbols.push(symbol),
            }
        }
        Pattern { symbols }
    }

    /// Whether `name` matches, and how many (position, character) steps it took.
    fn matches(&self, name: &str) -> (bool, usize) {
        let symbols = &self.symbols;
        // `live[i]`: the first `i` symbols can match the part of the name read so far.
        let mut live = vec![false; symbols.len() + 1];
        let mut next = vec![false; symbols.len() + 1];
        live[0] = true;
        self.close(&mut live);
        let mut steps = 0;
        for character in name.chars() {
            next.fill(false);
            for (i, symbol) in symbols.iter().enumerate() {
                steps += 1;
                if !live[i] {
                    continue;
                }
                match symbol {
                    '*' => next[i] = true,
                    '%' if character != DELIMITER => next[i] = true,
                    '%' => {}
                    literal if *literal == character => next[i + 1] = true,
                    _ => {}
                }
            }
            self.close(&mut next);
            std::mem::swap(&mut live, &mut next);
            if !live.contains(&true) {
                return (false, steps);
            }
        }
        (live[symbols.len()], steps)
    }

    /// Wildcards also match nothing: a live position before one makes the next live.
    fn close(&self, live: &mut [bool]) {
        for (i, symbol) in self.symbols.iter().enumerate() {
            if live[i] && matches!(symbol, '*' | '%') {
                live[i + 1] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wildcards defined recursively: the reference semantics, exponential but
    /// fine on tiny inputs.
    fn reference(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|i| reference(rest, &name[i..])),
            Some(('%', rest)) => (0..=name.len())
                .take_while(|i| *i == 0 || name[i - 1] != DELIMITER)
                .any(|i| reference(rest, &name[i..])),
            Some((c, rest)) => name.first() == Some(c) && reference(rest, &name[1..]),
        }
    }

    /// Every string of up to `length` symbols from `alphabet`.
    fn strings(alphabet: &[char], length: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..length {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_the_recursive_definition_on_every_small_case() {
        let names = strings(&['a', 'b', DELIMITER], 5);
        for pattern in strings(&['a', DELIMITER, '*', '%'], 5) {
            let symbols: Vec<char> = pattern.chars().collect();
            for name in &names {
                let chars: Vec<char> = name.chars().collect();
                assert_eq!(
                    Pattern::new(&pattern).matches(name).0,
                    reference(&symbols, &chars),
                    "{pattern:?} against {name:?}"
                );
            }
        }
    }

    #[test]
    fn imap_examples() {
        assert!(wildcard_match("*", "Sent/2026/May"));
        assert!(wildcard_match("%", "Sent"));
        assert!(!wildcard_match("%", "Sent/2026"));
        assert!(wildcard_match("Sent/%", "Sent/2026"));
        assert!(!wildcard_match("Sent/%", "Sent/2026/May"));
        assert!(wildcard_match("Sent/*", "Sent/2026/May"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(wildcard_match("In%", "INBOX"));
        assert!(!wildcard_match("inbox", "Inbox"));
        assert!(!wildcard_match("", "INBOX"));
    }

    #[test]
    fn adversarial_patterns_take_steps_bounded_by_pattern_times_name() {
        // Backtracking explores on the order of C(200, 40) splits of this name; the
        // position set does one step per (symbol, character) pair.
        let pattern = format!("{}b", "*a".repeat(40));
        let name = "a".repeat(200);
        let (matched, steps) = Pattern::new(&pattern).matches(&name);
        assert!(!matched);
        assert!(steps <= pattern.len() * name.len(), "{steps} steps");
        let percent = format!("{}b", "%a".repeat(40));
        let (matched, steps) = Pattern::new(&percent).matches(&name);
        assert!(!matched);
        assert!(steps <= percent.len() * name.len(), "{steps} steps");
        assert!(!wildcard_match(&pattern, &name));
        assert!(wildcard_match(&pattern, &format!("{name}b")));
    }

    #[test]
    fn wildcard_runs_become_one_symbol_and_long_literals_match_nothing() {
        assert_eq!(Pattern::new("**%*a%%b").symbols, ['*', 'a', '%', 'b']);
        assert!(wildcard_match("**%*a%%b", "Sent/xab"));
        assert!(!wildcard_match("a%%b", "a/b"));
        // A pattern of a million wildcards costs what one does.
        let stars = "*".repeat(1_000_000);
        let (matched, steps) = Pattern::new(&stars).matches("Sent/2026");
        assert!(matched && steps <= 2 * "Sent/2026".len());
        let long = "a".repeat(MAX_FOLDER_NAME_CHARS + 1);
        assert!(!wildcard_match(&long, &long));
    }
}
