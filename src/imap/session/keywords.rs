//! The flags a selected folder announces in FLAGS and PERMANENTFLAGS (RFC 3501
//! §7.2.6, §7.1): the system flags, the keywords pecd sets itself (always, so a client
//! that trusts FLAGS shows PEC status before the first receipt arrives), and every
//! keyword a message of the folder carries. A keyword that appears later (a receipt
//! arriving, another client's STORE) is announced with an untagged FLAGS before the
//! first response that shows it on a message.

use std::collections::BTreeMap;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::flag::FlagPerm;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;

use crate::imap::flags::PEC_KEYWORDS;
use crate::imap::reply;
use crate::imap::reply::Out;

/// The keywords a session has announced, by lower-cased name (keywords compare without
/// regard to case, RFC 3501 §9).
#[derive(Clone, Debug, Default)]
pub struct Announced {
    keywords: BTreeMap<String, Flag<'static>>,
}

impl Announced {
    /// The PEC keywords and those in `flags`.
    pub fn with<'f>(flags: impl IntoIterator<Item = &'f String>) -> Announced {
        let mut announced = Announced::default();
        announced.learn(PEC_KEYWORDS.iter().copied());
        announced.learn(flags.into_iter().map(String::as_str));
        announced
    }

    /// Adds the keywords among `flags`; whether any was new.
    pub fn learn<'f>(&mut self, flags: impl IntoIterator<Item = &'f str>) -> bool {
        let mut new = false;
        for flag in flags {
            if let Some(keyword) = keyword(flag)
                && !self.keywords.contains_key(&flag.to_ascii_lowercase())
            {
                self.keywords.insert(flag.to_ascii_lowercase(), keyword);
                new = true;
            }
        }
        new
    }

    /// `* FLAGS (…)` and `* OK [PERMANENTFLAGS (…)]` for the folder as announced now;
    /// nothing is permanent in a read-only folder.
    pub fn responses(&self, read_only: bool) -> Vec<Out> {
        let flags = self.flags();
        let permanent: Vec<FlagPerm<'static>> = if read_only {
            Vec::new()
        } else {
            let mut permanent: Vec<FlagPerm<'static>> =
                flags.iter().cloned().map(FlagPerm::Flag).collect();
            permanent.push(FlagPerm::Asterisk);
            permanent
        };
        vec![
            reply::data(Data::Flags(flags)),
            reply::untagged_ok(Some(Code::PermanentFlags(permanent)), "flags permitted"),
        ]
    }

    /// Learns the keywords of `flags`: the new announcement when any is new, before
    /// the response that shows them.
    pub fn announce<'f>(
        &mut self,
        flags: impl IntoIterator<Item = &'f str>,
        read_only: bool,
    ) -> Vec<Out> {
        if self.learn(flags) {
            self.responses(read_only)
        } else {
            Vec::new()
        }
    }

    fn flags(&self) -> Vec<Flag<'static>> {
        let mut flags = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(self.keywords.values().cloned());
        flags
    }
}

/// `flag` as a keyword, when it is one (not a system flag, not a `\` extension).
fn keyword(flag: &str) -> Option<Flag<'static>> {
    match Flag::try_from(flag).ok()? {
        Flag::Keyword(atom) => Some(Flag::Keyword(atom).into_static()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(outs: &[Out]) -> String {
        outs.iter()
            .map(|o| String::from_utf8(o.encode()).unwrap())
            .collect()
    }

    #[test]
    fn pec_keywords_are_always_announced_and_new_ones_once() {
        let stored = ["\\Seen".to_string(), "Pratica".to_string()];
        let mut announced = Announced::with(&stored);
        let first = wire(&announced.responses(false));
        assert!(
            first.contains("$PecConsegnato") && first.contains("Pratica"),
            "{first}"
        );
        assert!(
            first.contains("[PERMANENTFLAGS (") && first.contains("\\*)]"),
            "{first}"
        );
        assert!(
            announced
                .announce(["pratica", "\\Flagged"], false)
                .is_empty()
        );
        let again = wire(&announced.announce(["Urgente"], true));
        assert!(
            again.starts_with("* FLAGS (") && again.contains("Urgente"),
            "{again}"
        );
        assert!(again.contains("[PERMANENTFLAGS ()]"), "{again}");
    }
}
