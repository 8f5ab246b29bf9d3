//! `pecd check-config --config FILE`: every problem that would stop `pecd serve`
//! (or a reload) from using the file, each on its own line as `FILE:LINE: what`, and
//! exit 1; nothing and exit 0 when the file is good.
//!
//! The TOML parser stops at the first error, so the unknown keys and wrong values are
//! found one at a time: each reported entry is blanked in a scratch copy of the text
//! and the copy parsed again, until it parses (or nothing more can be said). Then the
//! rules the daemon checks at start, and what the file points to: certificates that
//! read and match their keys, the providers index, listen addresses used twice.

use std::io::Write;
use std::path::Path;

use crate::config::Config;
use crate::crypto::identity::Signer;
use crate::crypto::trust;
use crate::net::tls::ServedCertificate;

/// The most entries blanked while looking for more key errors.
const MAX_KEY_ERRORS: usize = 100;

/// One problem: the line it is on (1-based) when known, and what it is.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Problem {
    /// The line in the config file.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Prints every problem of the config at `path`; exit code 0 (good) or 1.
pub fn run(path: &Path, out: &mut dyn Write) -> anyhow::Result<u8> {
    let problems = problems(path);
    for problem in &problems {
        match problem.line {
            Some(line) => writeln!(out, "{}:{line}: {}", path.display(), problem.message)?,
            None => writeln!(out, "{}: {}", path.display(), problem.message)?,
        }
    }
    if problems.is_empty() {
        writeln!(out, "{}: ok", path.display())?;
    }
    Ok(u8::from(!problems.is_empty()))
}

/// Every problem of the config at `path`, in file order where lines are known.
pub fn problems(path: &Path) -> Vec<Problem> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => return vec![unlocated(format!("cannot read: {error}"))],
    };
    if let Err(error) = text.parse::<toml::Table>() {
        return vec![at_span(&text, &error)];
    }
    let mut problems = key_errors(&text);
    if problems.is_empty() {
        let base = path.parent().unwrap_or(Path::new("."));
        if let Err(error) = Config::parse(&text, base) {
            problems.push(invalid(&text, &error.to_string()));
        }
        // The files are checked whatever the rules said, so that one run lists both.
        if let Ok(mut config) = toml::from_str::<Config>(&text) {
            config.resolve(base);
            problems.extend(file_problems(&text, &config));
        }
    }
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    problems
}

/// Unknown keys, wrong types, missing keys: each found by parsing, blanking the
/// entry the parser names, and parsing again.
fn key_errors(text: &str) -> Vec<Problem> {
    let mut scratch: Vec<String> = text.lines().map(str::to_string).collect();
    let mut problems = Vec::new();
    for _ in 0..MAX_KEY_ERRORS {
        let joined = scratch.join("\n");
        let Err(error) = toml::from_str::<Config>(&joined) else {
            break;
        };
        let problem = at_span(&joined, &error);
        let Some(line) = problem.line else {
            problems.push(problem);
            break;
        };
        let blanked = blank_entry(&mut scratch, line - 1, error.span().map(|s| s.end));
        problems.push(problem);
        if !blanked {
            break;
        }
    }
    problems
}

/// Blanks the entry at `index` (0-based): a table header with its whole table, or a
/// key with its value's lines (up to `end`, a byte offset). False when there was
/// nothing left to blank (the parser would say the same again).
fn blank_entry(lines: &mut [String], index: usize, end: Option<usize>) -> bool {
    let Some(first) = lines.get(index) else {
        return false;
    };
    if first.trim().is_empty() {
        return false;
    }
    let last = if first.trim_start().starts_with('[') {
        let next = lines[index + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |at| index + 1 + at);
        next - 1
    } else {
        let text: String = lines.join("\n");
        end.map_or(index, |end| {
            line_of_offset(&text, end.saturating_sub(1)) - 1
        })
        .max(index)
    };
    for line in lines.iter_mut().take(last + 1).skip(index) {
        line.clear();
    }
    true
}

/// A parse error with its line when the parser gave a position.
fn at_span(text: &str, error: &toml::de::Error) -> Problem {
    Problem {
        line: error.span().map(|span| line_of_offset(text, span.start)),
        message: error.message().trim().to_string(),
    }
}

/// A rule the daemon checks (`Config::validate`), on the line of the key it names
/// (`section.key …`) when that key is in the file.
fn invalid(text: &str, message: &str) -> Problem {
    let message = message.strip_prefix(": ").unwrap_or(message).to_string();
    let named = message.split_whitespace().next().unwrap_or_default();
    // `section.key`, `routes."domain"` or `table.name.key` (`[mailbox_types.STANDARD]`).
    let in_file = |(section, key): (&str, &str)| line_of_key(text, section, key.trim_matches('"'));
    let line = named
        .split_once('.')
        .and_then(in_file)
        .or_else(|| named.rsplit_once('.').and_then(in_file));
    Problem { line, message }
}

fn unlocated(message: String) -> Problem {
    Problem {
        line: None,
        message,
    }
}

/// The 1-based line holding byte `offset`.
fn line_of_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of `key = …` inside `[section]` (or of the header, for an empty key).
pub fn line_of_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (at, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header.trim_end_matches(']').trim().to_string();
            if current == section && key.is_empty() {
                return Some(at + 1);
            }
            continue;
        }
        let name = trimmed.split('=').next().unwrap_or_default().trim();
        if current == section && trimmed.contains('=') && name.trim_matches('"') == key {
            return Some(at + 1);
        }
    }
    None
}

/// What the config points to: certificates and keys, the providers index, and the
/// listen addresses.
fn file_problems(text: &str, config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut report = |section: &str, key: &str, message: String| {
        let line = line_of_key(text, section, key).or_else(|| line_of_key(text, section, ""));
        problems.push(Problem { line, message });
    };
    certificate_problems(config, &mut report);
    file_path_problems(config, &mut report);
    listen_problems(config, &mut report);
    problems
}

/// Where a problem goes: `(section, key, message)`.
type Report<'a> = dyn FnMut(&str, &str, String) + 'a;

/// The `[certificates]` that do not load.
fn certificate_problems(config: &Config, report: &mut Report<'_>) {
    let c = &config.certificates;
    let dev = [
        &c.signing_certificate,
        &c.signing_key,
        &c.tls_certificate,
        &c.tls_key,
    ];
    // With all four missing, `pecd serve` makes development certificates: not a fault.
    if dev.iter().any(|p| p.exists()) {
        if let Err(error) = Signer::load(&c.signing_certificate, &c.signing_key) {
            report(
                "certificates",
                "signing_certificate",
                format!("signing certificate and key: {error}"),
            );
        }
        if let Err(error) = ServedCertificate::read(&c.tls_certificate, &c.tls_key) {
            report(
                "certificates",
                "tls_certificate",
                format!("TLS certificate and key: {error}"),
            );
        }
        if let Err(error) = std::fs::read(&c.ca) {
            report("certificates", "ca", format!("{}: {error}", c.ca.display()));
        }
    }
    if let (Some(certificate), Some(key)) = (&c.conservation_certificate, &c.conservation_key)
        && (certificate.exists() || key.exists())
        && let Err(error) = Signer::load(certificate, key)
    {
        report(
            "certificates",
            "conservation_certificate",
            format!("conservation seal: {error}"),
        );
    }
}

/// The other files the config names (the TSA certificate, the relay's TLS roots, the
/// providers index) that do not read or load.
fn file_path_problems(config: &Config, report: &mut Report<'_>) {
    if let Some(tsa) = &config.conservation.tsa_certificate
        && let Err(error) = std::fs::read(tsa)
    {
        report(
            "conservation",
            "tsa_certificate",
            format!("{}: {error}", tsa.display()),
        );
    }
    for root in &config.relay.tls_roots {
        if let Err(error) = std::fs::read(root) {
            report("relay", "tls_roots", format!("{}: {error}", root.display()));
        }
    }
    // A missing index is made by `pecd serve` (this provider only); a present one must load.
    if config.index.ldif.exists()
        && let Err(error) = trust::load_index_file(&config.index.ldif, None)
    {
        let path = config.index.ldif.display();
        report("index", "ldif", format!("providers index {path}: {error}"));
    }
}

/// Two `[listen]` keys on the same address.
fn listen_problems(config: &Config, report: &mut Report<'_>) {
    let listen = &config.listen;
    let mut seen: Vec<(&str, std::net::SocketAddr)> = Vec::new();
    let named = [
        ("submission", Some(listen.submission)),
        ("submissions", Some(listen.submissions)),
        ("mx", Some(listen.mx)),
        ("imap", Some(listen.imap)),
        ("imaps", Some(listen.imaps)),
        ("admin", Some(listen.admin)),
        ("web", listen.web),
    ];
    for (key, address) in named {
        let Some(address) = address else { continue };
        if let Some((other, _)) = seen.iter().find(|(_, a)| *a == address) {
            report(
                "listen",
                key,
                format!("listen.{key} {address} is also listen.{other}"),
            );
        }
        seen.push((key, address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(text: &str) -> Vec<Problem> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pecd.toml");
        std::fs::write(&path, text).unwrap();
        problems(&path)
    }

    const GOOD: &str = "[provider]\ndomain = \"pec.test\"\nname = \"Gestore\"\n";

    #[test]
    fn a_minimal_config_with_nothing_on_disk_yet_is_good() {
        assert_eq!(problems_of(GOOD), Vec::new());
    }

    #[test]
    fn every_unknown_key_and_wrong_type_is_listed_with_its_line() {
        let text = format!(
            "{GOOD}colore = \"blu\"\n\n[limits]\nmax_recipients = \"tanti\"\nsconosciuta = 1\n\n[nessuna]\nx = 1\n"
        );
        let found = problems_of(&text);
        let lines: Vec<Option<usize>> = found.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(4), Some(7), Some(8), Some(10)], "{found:?}");
        assert!(found[0].message.contains("colore"), "{found:?}");
        assert!(found[2].message.contains("sconosciuta"), "{found:?}");
        assert!(found[3].message.contains("nessuna"), "{found:?}");
    }

    #[test]
    fn a_syntax_error_has_its_line() {
        let found = problems_of(&format!("{GOOD}\n[limits\nx = 1\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(5), "{found:?}");
    }

    #[test]
    fn a_bad_route_and_a_missing_file_are_both_listed() {
        let text = format!(
            "{GOOD}\n[routes]\n\"pec-b.test\" = \"senza-porta\"\n\n[relay]\ntls_roots = [\"nessuna.pem\"]\n"
        );
        let found = problems_of(&text);
        let lines: Vec<Option<usize>> = found.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(6), Some(9)], "{found:?}");
        assert!(found[0].message.contains("host:port"), "{found:?}");
        assert!(found[1].message.contains("nessuna.pem"), "{found:?}");
    }

    #[test]
    fn a_rule_of_the_daemon_points_at_its_key() {
        let found = problems_of("[provider]\ndomain = \"pec.test\"\nname = \" \"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(3), "{found:?}");
        assert!(found[0].message.contains("provider.name"), "{found:?}");
    }

    #[test]
    fn missing_certificates_and_a_repeated_address_are_listed() {
        let text = format!(
            "{GOOD}\n[certificates]\nca = \"ca.pem\"\nsigning_certificate = \"nessuno.pem\"\nsigning_key = \"signing.key\"\ntls_certificate = \"tls.pem\"\ntls_key = \"tls.key\"\nkey_bits = 2048\n\n[listen]\nsubmission = \"127.0.0.1:2587\"\nsubmissions = \"127.0.0.1:2587\"\nmx = \"127.0.0.1:2589\"\nimap = \"127.0.0.1:2590\"\nimaps = \"127.0.0.1:2591\"\nadmin = \"127.0.0.1:2592\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        // One of the four present: no development certificates will be made.
        std::fs::write(dir.path().join("signing.key"), "not a key").unwrap();
        let path = dir.path().join("pecd.toml");
        std::fs::write(&path, text).unwrap();
        let found = problems(&path);
        let lines: Vec<Option<usize>> = found.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(6), Some(7), Some(9), Some(15)], "{found:?}");
        assert!(
            found.iter().any(|p| p.message.contains("TLS certificate")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.message.contains("also listen.submission")),
            "{found:?}"
        );
    }
}
