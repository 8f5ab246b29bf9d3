//! QRESYNC (RFC 7162 §3.2): a client that kept a folder's state resynchronizes in
//! the SELECT itself, and learns of expunges as UIDs (VANISHED); ENABLE (RFC 5161),
//! which turns CONDSTORE and QRESYNC on.
//!
//! The store keeps no history of expunged UIDs, so `VANISHED (EARLIER)` names every UID
//! of the asked range, below UIDNEXT, that no message has now, whenever it went: a
//! superset of what was expunged since the client's MODSEQ, which RFC 7162 §3.2.5.1
//! lets a server send (Dovecot does the same once its log no longer goes back that
//! far). The client drops what it has of those UIDs, and ignores the others.

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SeqOrUid;
use imap_codec::imap_types::sequence::Sequence;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Common;
use crate::imap::session::CondStore;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::Selection;
use crate::imap::session::view::FlagsFetch;
use crate::imap::session::view::flags_fetch;

impl Common {
    /// ENABLE (RFC 5161): CONDSTORE and QRESYNC are the extensions that need enabling.
    pub(super) fn enable(
        &mut self,
        tag: &Tag<'static>,
        capabilities: Vec1<CapabilityEnable<'_>>,
    ) -> Vec<Out> {
        let mut enabled = Vec::new();
        for capability in capabilities.into_iter() {
            let name = capability.to_string();
            match capability {
                CapabilityEnable::CondStore => {
                    if self.condstore == CondStore::Off {
                        self.condstore = CondStore::On;
                    }
                    enabled.push(CapabilityEnable::CondStore);
                }
                // QRESYNC includes CONDSTORE (RFC 7162 §3.2.3).
                CapabilityEnable::Other(_) if name.eq_ignore_ascii_case("QRESYNC") => {
                    self.condstore = CondStore::QResync;
                    enabled.extend(CapabilityEnable::try_from("QRESYNC"));
                }
                _ => {}
            }
        }
        vec![
            reply::data(Data::Enabled {
                capabilities: enabled,
            }),
            reply::ok(tag, None, "ENABLE completed"),
        ]
    }
}

/// What SELECT (QRESYNC (…)) adds after the folder's description: the UIDs gone since
/// and the messages changed since the client's MODSEQ (RFC 7162 §3.2.5). Nothing
/// when the UIDVALIDITY differs (the client must start over).
pub(super) fn on_select(
    context: &Context<'_>,
    selection: &mut Selection,
    parameter: &SelectParameter,
) -> Result<Vec<Out>, Fault> {
    let SelectParameter::QResync {
        uid_validity,
        mod_sequence_value,
        known_uids,
        ..
    } = parameter
    else {
        return Ok(Vec::new());
    };
    if uid_validity.get() != selection.uidvalidity || selection.conserved.is_some() {
        return Ok(Vec::new());
    }
    let (store, user) = (context.store, context.user);
    let Some(folder) = store.read(|tx| tx.folders().get(user, &selection.folder))? else {
        return Ok(Vec::new());
    };
    let top = folder.uidnext.saturating_sub(1);
    let ranges = match known_uids {
        Some(set) => ranges_of(set, top),
        None => vec![(1, top)],
    };
    let mut out: Vec<Out> = vanished_earlier(&selection.uids, &ranges)
        .into_iter()
        .collect();
    let metas = store.read(|tx| tx.mailboxes().messages(user, &selection.folder))?;
    let items = FlagsFetch {
        flags: true,
        uid: true,
        modseq: true,
    };
    for meta in metas.iter().filter(|m| m.modseq > mod_sequence_value.get()) {
        if let Some(seq) = selection.seq_of(meta.uid) {
            out.extend(
                selection
                    .keywords
                    .announce(meta.flags.iter().map(String::as_str), selection.read_only),
            );
            let recent = selection.recent.contains(&meta.uid);
            out.extend(flags_fetch(seq, meta, recent, items));
        }
    }
    Ok(out)
}

/// `* VANISHED (EARLIER) …` for the UIDs of `set` (`*` being the last UID given out)
/// that no message of the selection has: UID FETCH … (CHANGEDSINCE m VANISHED),
/// RFC 7162 §3.2.6.
pub(super) fn on_fetch(
    context: &Context<'_>,
    selection: &Selection,
    set: &SequenceSet,
) -> Result<Option<Out>, Fault> {
    let (store, user) = (context.store, context.user);
    let Some(folder) = store.read(|tx| tx.folders().get(user, &selection.folder))? else {
        return Ok(None);
    };
    let top = folder.uidnext.saturating_sub(1);
    Ok(vanished_earlier(&selection.uids, &ranges_of(set, top)))
}

/// `* VANISHED <uids>`: expunges told to a QRESYNC client (RFC 7162 §3.2.10).
pub fn vanished(uids: &[u32]) -> Option<Out> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    let runs = crate::imap::extended::runs(&sorted);
    vanished_data(false, &runs)
}

fn vanished_earlier(present: &[u32], ranges: &[(u32, u32)]) -> Option<Out> {
    let mut gaps = Vec::new();
    for &(low, high) in ranges {
        gaps.extend(missing(present, low, high));
    }
    vanished_data(true, &gaps)
}

fn vanished_data(earlier: bool, runs: &[(u32, u32)]) -> Option<Out> {
    let text: Vec<String> = runs
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect();
    let known_uids = SequenceSet::try_from(text.join(",").as_str()).ok()?;
    Some(reply::data(Data::Vanished {
        earlier,
        known_uids,
    }))
}

/// The runs of UIDs in `low..=high` that `present` (ascending) lacks, found from the
/// present UIDs alone, however wide the range.
fn missing(present: &[u32], low: u32, high: u32) -> Vec<(u32, u32)> {
    let mut gaps = Vec::new();
    if low == 0 || low > high {
        return gaps;
    }
    let mut next = low;
    let start = present.partition_point(|uid| *uid < low);
    for &uid in &present[start..] {
        if uid > high {
            break;
        }
        if uid > next {
            gaps.push((next, uid - 1));
        }
        next = uid.saturating_add(1);
    }
    if next <= high && next >= low {
        gaps.push((next, high));
    }
    gaps
}

/// The ranges of a UID set, `*` and anything above it standing for `top`.
fn ranges_of(set: &SequenceSet, top: u32) -> Vec<(u32, u32)> {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get().min(top),
        SeqOrUid::Asterisk => top,
    };
    set.0
        .as_ref()
        .iter()
        .map(|sequence| match sequence {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => (value(a).min(value(b)), value(a).max(value(b))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_come_from_the_present_uids_alone() {
        assert_eq!(missing(&[2, 3, 7], 1, 9), [(1, 1), (4, 6), (8, 9)]);
        assert_eq!(missing(&[2, 3, 7], 3, 3), []);
        assert_eq!(missing(&[], 1, u32::MAX - 1), [(1, u32::MAX - 1)]);
        assert_eq!(missing(&[5], 1, 5), [(1, 4)]);
    }
}
