//! The selected folder as one session sees it: the sequence-number map, which messages
//! are `\Recent` to it, and how far it has been told about changes. [`Selection::sync`]
//! turns what others changed in the store into EXISTS / EXPUNGE / FETCH responses.

use std::collections::BTreeSet;
use std::collections::HashMap;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::flag::FlagFetch;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SeqOrUid;
use imap_codec::imap_types::sequence::Sequence;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::keywords::Announced;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::mailbox::Folder;
use crate::store::mailbox::MessageMeta;

/// Whether CONDSTORE is on for the session (RFC 7162 §3.1): responses carry MODSEQ.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum CondStore {
    /// Not enabled.
    #[default]
    Off,
    /// Enabled by ENABLE or by a command using it.
    On,
    /// QRESYNC enabled (RFC 7162 §3.2), which includes CONDSTORE: expunges are
    /// reported as VANISHED.
    QResync,
}

impl CondStore {
    /// Whether responses carry MODSEQ.
    pub fn is_on(self) -> bool {
        self != CondStore::Off
    }
}

/// Whether a sync reports expunges now (RFC 3501 §7.4.1).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Expunges {
    /// Report them (and renumber).
    Report,
    /// Hold them back (during FETCH, STORE, SEARCH by sequence number).
    Hold,
}

/// Which items an untagged FETCH telling a message's new state carries.
#[derive(Clone, Copy, Debug)]
pub struct FlagsFetch {
    /// FLAGS.
    pub flags: bool,
    /// UID.
    pub uid: bool,
    /// MODSEQ.
    pub modseq: bool,
}

/// A selected folder.
#[derive(Debug)]
pub struct Selection {
    /// The folder name.
    pub folder: String,
    /// EXAMINE, or SELECT of a folder we may not change.
    pub read_only: bool,
    /// Its UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDs by sequence number (index 0 is message 1).
    pub uids: Vec<u32>,
    /// UIDs that are `\Recent` for this session.
    pub recent: BTreeSet<u32>,
    /// The HIGHESTMODSEQ this session has been told about.
    pub modseq: u64,
    /// Changes this session made itself and already reported (UID → MODSEQ).
    pub own: HashMap<u32, u64>,
    /// Expunges seen but not yet reported (held back during FETCH, STORE, SEARCH).
    pub deferred: bool,
    /// A folder of the conservation view: its messages, read from their packages.
    pub conserved: Option<Vec<crate::conservation::view::Entry>>,
    /// The keywords announced in FLAGS so far.
    pub keywords: Announced,
}

impl Selection {
    /// The sequence number of a UID.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids
            .binary_search(&uid)
            .ok()
            .and_then(|i| u32::try_from(i + 1).ok())
    }

    /// The highest UID known to this session.
    pub fn max_uid(&self) -> u32 {
        self.uids.last().copied().unwrap_or(0)
    }

    /// The number of messages.
    pub fn exists(&self) -> u32 {
        u32::try_from(self.uids.len()).unwrap_or(u32::MAX)
    }

    /// `(seq, uid)` of the messages a sequence set names, in ascending order. `*` is
    /// the last message (or UID); a UID set may name UIDs that do not exist, which are
    /// left out (RFC 3501 §6.4.8).
    pub fn resolve(&self, set: &SequenceSet, by_uid: bool) -> Vec<(u32, u32)> {
        let top = if by_uid {
            self.max_uid()
        } else {
            self.exists()
        };
        let value = |v: &SeqOrUid| match v {
            SeqOrUid::Value(n) => n.get(),
            SeqOrUid::Asterisk => top,
        };
        let mut wanted: BTreeSet<u32> = BTreeSet::new();
        for sequence in set.0.as_ref() {
            let (a, b) = match sequence {
                Sequence::Single(v) => (value(v), value(v)),
                Sequence::Range(a, b) => (value(a), value(b)),
            };
            let (low, high) = (a.min(b), a.max(b));
            if by_uid {
                let start = self.uids.partition_point(|u| *u < low);
                let end = self.uids.partition_point(|u| *u <= high);
                wanted.extend(self.uids[start..end].iter().copied());
            } else {
                let high = high.min(self.exists());
                for seq in low.max(1)..=high {
                    if let Some(uid) = self.uids.get(seq as usize - 1) {
                        wanted.insert(*uid);
                    }
                }
            }
        }
        wanted
            .into_iter()
            .filter_map(|uid| self.seq_of(uid).map(|seq| (seq, uid)))
            .collect()
    }

    /// Brings the view up to date with the store and says what changed. With
    /// [`Expunges::Hold`] removed messages stay in the view until a later command
    /// reports them.
    pub fn sync(
        &mut self,
        store: &Store,
        user: &str,
        expunges: Expunges,
        condstore: CondStore,
    ) -> Result<Vec<Out>, StoreError> {
        let expunges = expunges == Expunges::Report;
        if self.conserved.is_some() {
            // The view is a snapshot taken at SELECT; it changes only on reselection.
            return Ok(Vec::new());
        }
        let Some(folder) = store.read(|tx| tx.folders().get(user, &self.folder))? else {
            // Deleted under us: the client must reselect (RFC 3501 §7.1.5 BYE is for
            // the whole connection; an empty view is the gentle answer).
            let mut out = Vec::new();
            if expunges {
                self.expunged(&BTreeSet::new(), &mut out, condstore);
            }
            return Ok(out);
        };
        if !self.deferred
            && folder.highest_modseq == self.modseq
            && folder.uidnext <= self.max_uid() + 1
        {
            return Ok(Vec::new());
        }
        let metas = store.read(|tx| tx.mailboxes().messages(user, &self.folder))?;
        let mut out = Vec::new();
        let present: BTreeSet<u32> = metas.iter().map(|m| m.uid).collect();
        let mut removed_any = false;
        self.deferred = !expunges && self.uids.iter().any(|u| !present.contains(u));
        if expunges {
            let gone = self.expunged(&present, &mut out, condstore);
            removed_any = !gone.is_empty();
        }
        for meta in metas.iter().filter(|m| m.modseq > self.modseq) {
            if self.own.get(&meta.uid) == Some(&meta.modseq) {
                continue;
            }
            if let Some(seq) = self.seq_of(meta.uid) {
                out.extend(
                    self.keywords
                        .announce(meta.flags.iter().map(String::as_str), self.read_only),
                );
                let recent = self.recent.contains(&meta.uid);
                let items = FlagsFetch {
                    flags: true,
                    uid: true,
                    modseq: condstore.is_on(),
                };
                out.extend(flags_fetch(seq, meta, recent, items));
            }
        }
        let known = self.max_uid();
        let new: Vec<u32> = metas.iter().map(|m| m.uid).filter(|u| *u > known).collect();
        if !new.is_empty() || removed_any {
            let arrived = metas.iter().filter(|m| m.uid > known);
            out.extend(self.keywords.announce(
                arrived.flat_map(|m| m.flags.iter().map(String::as_str)),
                self.read_only,
            ));
            let claimed = self.claim_recent(store, user, &folder, &new)?;
            self.recent
                .extend(new.iter().copied().filter(|uid| claimed.contains(uid)));
            self.uids.extend(new);
            out.push(reply::data(Data::Exists(self.exists())));
            out.push(reply::data(Data::Recent(
                u32::try_from(self.recent.len()).unwrap_or(u32::MAX),
            )));
        }
        self.modseq = folder.highest_modseq;
        self.own.clear();
        Ok(out)
    }
}

impl Selection {
    /// Messages arriving while a session watches are recent to it, unless another
    /// session claimed them first (RFC 3501 §2.3.2: recent to one session only); a
    /// read-only session claims nothing. The UIDs this session may show as `\Recent`.
    fn claim_recent(
        &self,
        store: &Store,
        user: &str,
        folder: &Folder,
        new: &[u32],
    ) -> Result<std::ops::Range<u32>, StoreError> {
        let Some(&last) = new.last() else {
            return Ok(0..0);
        };
        if self.read_only || folder.first_recent_uid > last {
            return Ok(0..0);
        }
        let end = last.saturating_add(1);
        Ok(store
            .write(|tx| tx.folders().claim_recent(user, &self.folder, Some(end)))?
            .unwrap_or(0..0))
    }

    /// Drops the messages no longer `present`, reporting each EXPUNGE from the highest
    /// sequence number down (so the numbers stay right as they go); whether any went.
    ///
    /// A QRESYNC session is told the UIDs in one VANISHED instead (RFC 7162 §3.2.10).
    /// Returns the UIDs that went.
    fn expunged(
        &mut self,
        present: &BTreeSet<u32>,
        out: &mut Vec<Out>,
        condstore: CondStore,
    ) -> Vec<u32> {
        let mut gone = Vec::new();
        let mut seq = self.uids.len();
        while seq > 0 {
            let uid = self.uids[seq - 1];
            if !present.contains(&uid) {
                self.uids.remove(seq - 1);
                self.recent.remove(&uid);
                if condstore != CondStore::QResync {
                    out.push(reply::data(Data::Expunge(reply::nz(
                        u32::try_from(seq).unwrap_or(u32::MAX),
                    ))));
                }
                gone.push(uid);
            }
            seq -= 1;
        }
        if condstore == CondStore::QResync {
            out.extend(crate::imap::session::qresync::vanished(&gone));
        }
        gone
    }
}

/// The untagged `FETCH` telling a message's new state with the `wanted` items; `None`
/// when that leaves no item.
pub fn flags_fetch(seq: u32, meta: &MessageMeta, recent: bool, wanted: FlagsFetch) -> Option<Out> {
    let mut items = Vec::new();
    if wanted.flags {
        items.push(MessageDataItem::Flags(fetch_flags(meta, recent)));
    }
    if wanted.uid {
        items.push(MessageDataItem::Uid(reply::nz(meta.uid)));
    }
    if wanted.modseq {
        items.push(MessageDataItem::ModSeq(modseq_nz(meta.modseq)));
    }
    let items = Vec1::try_from(items).ok()?;
    Some(reply::data(Data::Fetch {
        seq: reply::nz(seq),
        items,
    }))
}

/// A MODSEQ as the codec wants it (never zero: every stored message has one ≥ 1).
pub fn modseq_nz(modseq: u64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(modseq).unwrap_or(std::num::NonZeroU64::MIN)
}

/// A message's flags for FETCH, with `\Recent` when it is recent to this session.
pub fn fetch_flags(meta: &MessageMeta, recent: bool) -> Vec<FlagFetch<'static>> {
    let mut flags: Vec<FlagFetch<'static>> = meta
        .flags
        .iter()
        .filter_map(|f| Flag::try_from(f.as_str()).ok())
        .map(|f| FlagFetch::Flag(f.into_static()))
        .collect();
    if recent {
        flags.push(FlagFetch::Recent);
    }
    flags
}
