//! FETCH (RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE): which messages,
//! their bytes (the body store, the header cache for header-only items, or the
//! conservation package in the view), `\Seen` marking in one transaction, and each item.

use std::cell::Cell;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::collections::HashSet;

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::fetch::Macro;
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::fetch::Section;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::imap::flags::Flag;
use crate::imap::flags::Flags;
use crate::imap::message::MimeMessage;
use crate::imap::reply::Out;
use crate::imap::session::CondStore;
use crate::imap::session::Fault;
use crate::imap::session::Selection;
use crate::imap::session::fetch_items::Answer;
use crate::imap::session::fetch_items::answer_into;
use crate::imap::session::fetch_out::FetchOut;
use crate::imap::session::fetch_wire::Message;
use crate::imap::session::fetch_wire::Writer;
use crate::imap::session::keywords::Announced;
use crate::imap::session::selected::InFolder;
use crate::store::blobs::BlobId;
use crate::store::folders::FlagChange;
use crate::store::folders::Stored;
use crate::store::mailbox::MessageMeta;

/// The most new messages one NOTIFY MessageNew FETCH answers.
const NOTIFIED_MOST: usize = 1000;
/// The most bytes of bodies one NOTIFY MessageNew FETCH reads.
const NOTIFIED_MOST_BYTES: u64 = 1 << 20;

/// What a FETCH needs, worked out once from its items.
struct Plan {
    names: Vec<MessageDataItemName<'static>>,
    /// Some item needs the message's bytes.
    needs_body: bool,
    /// Header items alone: answered from the header cache, not the bodies.
    header_only: bool,
    /// Some item needs the MIME tree (BODY[], RFC822 and top-level header sections
    /// need the bytes alone).
    needs_mime: bool,
    /// Some item sets `\Seen` (RFC 3501 §6.4.5), and the folder may change.
    marks_seen: bool,
    /// CHANGEDSINCE (RFC 7162 §3.1.4).
    changed_since: Option<u64>,
    /// FLAGS may be in the responses (asked for, or `\Seen` set by this FETCH).
    shows_flags: bool,
}

impl Plan {
    fn new(
        names: &MacroOrMessageDataItemNames<'_>,
        by_uid: bool,
        condstore: CondStore,
        changed_since: Option<u64>,
        selection: &Selection,
    ) -> Plan {
        let mut names: Vec<MessageDataItemName<'static>> = match names {
            MacroOrMessageDataItemNames::Macro(m) => expand(m.clone()),
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => {
                names.iter().cloned().map(IntoStatic::into_static).collect()
            }
        };
        if by_uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }
        if (condstore.is_on() || changed_since.is_some())
            && !names.contains(&MessageDataItemName::ModSeq)
        {
            names.push(MessageDataItemName::ModSeq);
        }
        let needs_body = names.iter().any(needs_raw);
        Plan {
            header_only: needs_body
                && selection.conserved.is_none()
                && names.iter().all(|n| !needs_raw(n) || is_header_item(n)),
            needs_mime: names
                .iter()
                .any(|n| needs_raw(n) && !is_whole_message(n) && !is_top_header_section(n)),
            marks_seen: !selection.read_only && names.iter().any(marks_seen),
            shows_flags: names.contains(&MessageDataItemName::Flags)
                || !selection.read_only && names.iter().any(marks_seen),
            needs_body,
            changed_since,
            names,
        }
    }

    /// The plan with every item read as its PEEK form: nothing is marked `\Seen`.
    fn peeking(self) -> Plan {
        Plan {
            marks_seen: false,
            shows_flags: self.names.contains(&MessageDataItemName::Flags),
            ..self
        }
    }

    /// Whether a message passes CHANGEDSINCE.
    fn changed(&self, meta: &MessageMeta) -> bool {
        self.changed_since.is_none_or(|since| meta.modseq > since)
    }
}

/// Makes one message's response.
struct Responder<'p> {
    plan: &'p Plan,
    writer: Writer,
    /// Messages whose `\Seen` this FETCH set: their FLAGS go out unasked.
    flags_changed: HashSet<u32>,
    recent: &'p BTreeSet<u32>,
    no_mime: MimeMessage<'static>,
    /// Header sections of every message are cut into one buffer.
    scratch: Cell<Vec<u8>>,
    /// The keywords announced in FLAGS (the selection's, lent for the command).
    announced: RefCell<Announced>,
}

impl Responder<'_> {
    /// One message's response from `raw` (the message, or its header block when the
    /// plan is header-only).
    fn respond(&self, seq: u32, meta: &MessageMeta, raw: &[u8]) -> Option<Out> {
        let message = self.message(seq, meta, raw, false);
        finish(message, meta.uid, None)
    }

    /// One message's response, a whole-message item going out from `raw`'s buffer.
    fn respond_whole(&self, seq: u32, meta: &MessageMeta, raw: Vec<u8>) -> Option<Out> {
        let message = self.message(seq, meta, &raw, true);
        finish(message, meta.uid, Some(raw))
    }

    fn message(&self, seq: u32, meta: &MessageMeta, raw: &[u8], keep_whole: bool) -> Message<'_> {
        let parsed;
        let mime = if self.plan.needs_mime {
            parsed = MimeMessage::parse(raw);
            &parsed
        } else {
            &self.no_mime
        };
        let answer = Answer {
            meta,
            mime,
            raw,
            block: self.plan.header_only,
            recent: self.recent.contains(&meta.uid),
        };
        let flags_changed = self.flags_changed.contains(&meta.uid);
        let mut cut = self.scratch.take();
        let message = answer_into(
            self.writer.start(seq),
            &self.plan.names,
            &answer,
            flags_changed,
            keep_whole,
            &mut cut,
        );
        self.scratch.set(cut);
        message
    }
}

fn finish(message: Message<'_>, uid: u32, whole: Option<Vec<u8>>) -> Option<Out> {
    let empty = message.is_empty();
    let response = message.finish(whole);
    if response.is_none() && !empty {
        tracing::error!(uid, "FETCH response not encodable");
    }
    response
}

/// A message's answer from the header cache.
enum Cached {
    /// Not in the cache: read the body.
    Miss,
    /// Answered (`None`: nothing encodable to send).
    Hit(Option<Out>),
}

impl InFolder<'_, '_> {
    pub(super) fn metas(&self, wanted: &[(u32, u32)]) -> Result<Vec<(u32, MessageMeta)>, Fault> {
        let selection = &*self.selection;
        if let Some(entries) = &selection.conserved {
            let metas = super::conserved::metas(entries);
            return Ok(wanted
                .iter()
                .filter_map(|(seq, uid)| {
                    metas
                        .get((*uid as usize).wrapping_sub(1))
                        .map(|m| (*seq, m.clone()))
                })
                .collect());
        }
        let (user, folder) = (self.context.user, selection.folder.as_str());
        self.context.store.read(|tx| {
            // A large share of the folder between the first and the last UID wanted:
            // one scan beats many lookups. Both lists are in UID order, so one pass
            // pairs them.
            let (Some((_, first)), Some((_, last))) = (wanted.first(), wanted.last()) else {
                return Ok(Vec::new());
            };
            let span = selection.uids.partition_point(|uid| uid <= last)
                - selection.uids.partition_point(|uid| uid < first);
            let mut found = Vec::with_capacity(wanted.len());
            if wanted.len() > 64 && wanted.len() * 4 > span {
                let all = tx.mailboxes().messages_in(user, folder, *first..=*last)?;
                let mut wanted = wanted.iter().peekable();
                for meta in all {
                    while wanted.next_if(|(_, uid)| *uid < meta.uid).is_some() {}
                    if let Some((seq, _)) = wanted.next_if(|(_, uid)| *uid == meta.uid) {
                        found.push((*seq, meta));
                    }
                }
            } else {
                for (seq, uid) in wanted {
                    if let Some(meta) = tx.folders().message(user, folder, *uid)? {
                        found.push((*seq, meta));
                    }
                }
            }
            Ok(found)
        })
    }

    /// A message's bytes: from the body store, or from its package in the
    /// conservation view.
    pub(super) fn raw(&self, meta: &MessageMeta) -> Result<Vec<u8>, Fault> {
        match &self.selection.conserved {
            Some(entries) => self.common.hooks.conserved_raw(entries, meta.uid),
            // The client's own mail: its S/MIME signature is the check (see
            // `BlobStore::read_unverified`).
            None => self.context.store.blobs().read_unverified(&meta.blob),
        }
    }

    /// FETCH: the messages of `set`, marked `\Seen` first when an item asks for it,
    /// then answered window by window.
    pub(super) fn fetch(
        &mut self,
        set: &SequenceSet,
        names: &MacroOrMessageDataItemNames<'_>,
        by_uid: bool,
        changed_since: Option<u64>,
    ) -> Result<Vec<Out>, Fault> {
        let plan = Plan::new(
            names,
            by_uid,
            self.common.condstore,
            changed_since,
            self.selection,
        );
        self.answer(set, by_uid, plan)
    }

    /// The FETCH a NOTIFY MessageNew sends by UID between commands: it reads and
    /// never writes, so `BODY[]` there is `BODY.PEEK[]` (a notification must not
    /// change the messages it reports, nor commit on the connection's task).
    pub(super) fn fetch_peeking(
        &mut self,
        set: &SequenceSet,
        names: &MacroOrMessageDataItemNames<'_>,
    ) -> Result<Vec<Out>, Fault> {
        let plan = Plan::new(names, true, self.common.condstore, None, self.selection);
        let wanted = self.selection.resolve(set, true);
        // Unlike a FETCH, the notification is not the client's asking: what it may
        // hold in memory at once is bounded, and past that the client has EXISTS and
        // fetches at its own pace.
        if wanted.len() > NOTIFIED_MOST {
            return Ok(Vec::new());
        }
        if plan.needs_body {
            let bytes: u64 = self.metas(&wanted)?.iter().map(|(_, m)| m.size).sum();
            if bytes > NOTIFIED_MOST_BYTES {
                return Ok(Vec::new());
            }
        }
        self.answer(set, true, plan.peeking())
    }

    fn answer(&mut self, set: &SequenceSet, by_uid: bool, plan: Plan) -> Result<Vec<Out>, Fault> {
        let wanted = self.selection.resolve(set, by_uid);
        // Marking `\Seen` needs every message first; otherwise they are read window by
        // window as the output is made.
        let (prefetched, flags_changed) = if plan.marks_seen {
            let mut metas = self.metas(&wanted)?;
            metas.retain(|(_, meta)| plan.changed(meta));
            let flags_changed = self.mark_seen(&mut metas)?;
            (Some(metas), flags_changed)
        } else {
            (None, HashSet::new())
        };
        let mut output = FetchOut::new(self.common.early.take(), wanted.len());
        let announced = std::mem::take(&mut self.selection.keywords);
        let responder = Responder {
            plan: &plan,
            writer: Writer::new(&plan.names),
            flags_changed,
            recent: &self.selection.recent,
            no_mime: MimeMessage::parse(b""),
            scratch: Cell::new(Vec::new()),
            announced: RefCell::new(announced),
        };
        let misses = self.answer_windows(&wanted, prefetched, &responder, &mut output);
        let Responder { announced, .. } = responder;
        self.selection.keywords = announced.into_inner();
        let (out, early) = output.finish();
        self.common.early = early;
        self.cache_headers(&misses?);
        Ok(out)
    }

    /// Sets `\Seen` on every message of `metas` without it, in one transaction (RFC
    /// 3501 §6.4.5), updating `metas`; returns the UIDs whose flags changed.
    fn mark_seen(&mut self, metas: &mut [(u32, MessageMeta)]) -> Result<HashSet<u32>, Fault> {
        let mut flags_changed = HashSet::new();
        let unseen: Vec<u32> = metas
            .iter()
            .filter(|(_, m)| !Flags::of(&m.flags).has(Flag::Seen))
            .map(|(_, m)| m.uid)
            .collect();
        if unseen.is_empty() {
            return Ok(flags_changed);
        }
        let (user, folder) = (self.context.user, self.selection.folder.as_str());
        let seen = vec![Flag::Seen.as_str().to_string()];
        let (results, _) = self.context.store.write(|tx| {
            tx.folders()
                .store_flags_many(user, folder, &unseen, FlagChange::Add, &seen, None)
        })?;
        for result in results {
            if let Stored::Done(updated) = result
                && let Some((_, meta)) = metas.iter_mut().find(|(_, m)| m.uid == updated.uid)
            {
                self.selection.own.insert(updated.uid, updated.modseq);
                flags_changed.insert(updated.uid);
                *meta = updated;
            }
        }
        Ok(flags_changed)
    }

    /// Answers `wanted` in windows that grow, so that the first responses go out at
    /// once; returns the header blocks the cache missed.
    fn answer_windows(
        &self,
        wanted: &[(u32, u32)],
        prefetched: Option<Vec<(u32, MessageMeta)>>,
        responder: &Responder<'_>,
        output: &mut FetchOut,
    ) -> Result<Vec<(BlobId, Vec<u8>)>, Fault> {
        let mut misses = Vec::new();
        let mut window = FIRST_WINDOW;
        let mut start = 0;
        let marks_seen = prefetched.is_some();
        let mut prefetched = prefetched.unwrap_or_default().into_iter();
        while start < wanted.len() {
            let end = wanted.len().min(start + window);
            let part: Vec<(u32, MessageMeta)> = if marks_seen {
                prefetched.by_ref().take(end - start).collect()
            } else {
                let mut part = self.metas(wanted.get(start..end).unwrap_or_default())?;
                part.retain(|(_, meta)| responder.plan.changed(meta));
                part
            };
            start = end;
            window = (window * 2).min(MAX_WINDOW);
            self.answer_window(&part, responder, output, &mut misses)?;
            output.hand_over();
        }
        Ok(misses)
    }

    /// Answers one window of messages into `output`.
    fn answer_window(
        &self,
        part: &[(u32, MessageMeta)],
        responder: &Responder<'_>,
        output: &mut FetchOut,
        misses: &mut Vec<(BlobId, Vec<u8>)>,
    ) -> Result<(), Fault> {
        let plan = responder.plan;
        if plan.shows_flags {
            // A keyword first seen here is announced before the response showing it.
            let flags = part
                .iter()
                .flat_map(|(_, m)| m.flags.iter().map(String::as_str));
            let read_only = self.selection.read_only;
            for announcement in responder.announced.borrow_mut().announce(flags, read_only) {
                output.push(announcement);
            }
        }
        let mut cached = self.cached_answers(part, responder)?.into_iter();
        for (seq, meta) in part {
            let response = match cached.next().unwrap_or(Cached::Miss) {
                Cached::Hit(response) => response,
                Cached::Miss if !plan.needs_body => responder.respond(*seq, meta, b""),
                Cached::Miss => match self.raw(meta) {
                    Ok(raw) if plan.header_only => {
                        let header = header_block(&raw);
                        let response = responder.respond(*seq, meta, &header);
                        misses.push((meta.blob.clone(), header));
                        response
                    }
                    // A whole-message item goes out from the buffer it was read into.
                    Ok(raw) => responder.respond_whole(*seq, meta, raw),
                    Err(error) => {
                        tracing::error!(%error, uid = meta.uid, "message body unreadable");
                        continue;
                    }
                },
            };
            if let Some(response) = response {
                output.push(response);
            }
        }
        Ok(())
    }

    /// Header items alone: answered inside a read transaction from the cached header
    /// blocks as they lie in the table's pages. Empty when the plan is not header-only.
    fn cached_answers(
        &self,
        part: &[(u32, MessageMeta)],
        responder: &Responder<'_>,
    ) -> Result<Vec<Cached>, Fault> {
        let mut cached = Vec::new();
        if !responder.plan.header_only {
            return Ok(cached);
        }
        cached.resize_with(part.len(), || Cached::Miss);
        let blobs: Vec<&BlobId> = part.iter().map(|(_, m)| &m.blob).collect();
        self.context.store.read(|tx| {
            tx.headers().each_cached(&blobs, |index, header| {
                if let (Some(slot), Some((seq, meta))) = (cached.get_mut(index), part.get(index)) {
                    *slot = Cached::Hit(responder.respond(*seq, meta, header));
                }
            })
        })?;
        Ok(cached)
    }

    /// Fills the header cache with what a FETCH missed. The cache is an optimisation:
    /// failing to fill it is logged, not fatal.
    fn cache_headers(&self, misses: &[(BlobId, Vec<u8>)]) {
        if misses.is_empty() {
            return;
        }
        if let Err(error) = self.context.store.write(|tx| {
            for (blob, header) in misses {
                tx.headers().cache(blob, header)?;
            }
            Ok(())
        }) {
            tracing::warn!(%error, "header cache not updated");
        }
    }
}

/// Messages in the first window of a header-only FETCH (about 16 KiB of output).
const FIRST_WINDOW: usize = 64;

/// The largest window: enough of a folder's bodies for the header cache to be walked
/// rather than searched (see `Headers::each_cached`).
const MAX_WINDOW: usize = 2048;

fn expand(m: Macro) -> Vec<MessageDataItemName<'static>> {
    use MessageDataItemName as N;
    let mut names = vec![N::Flags, N::InternalDate, N::Rfc822Size];
    match m {
        Macro::Fast => {}
        Macro::All => names.push(N::Envelope),
        Macro::Full => names.extend([N::Envelope, N::Body]),
        _ => names.push(N::Envelope),
    }
    names
}

fn needs_raw(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    !matches!(
        name,
        N::Flags | N::InternalDate | N::Rfc822Size | N::Uid | N::ModSeq
    )
}

fn marks_seen(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::BodyExt { peek: false, .. } | N::Binary { peek: false, .. } | N::Rfc822 | N::Rfc822Text
    )
}

/// Items answered from the message header alone (the header cache).
fn is_header_item(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    match name {
        N::Envelope | N::Rfc822Header => true,
        N::BodyExt {
            section: Some(section),
            ..
        } => matches!(
            section,
            Section::Header(None)
                | Section::HeaderFields(None, _)
                | Section::HeaderFieldsNot(None, _)
        ),
        _ => false,
    }
}

/// `BODY[HEADER]`, `BODY[HEADER.FIELDS …]` of the top-level message.
fn is_top_header_section(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::BodyExt {
            section: Some(
                Section::Header(None)
                    | Section::HeaderFields(None, _)
                    | Section::HeaderFieldsNot(None, _)
            ),
            ..
        }
    )
}

/// Items that are the message's bytes as they are.
fn is_whole_message(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(name, N::Rfc822 | N::BodyExt { section: None, .. })
}

/// A message's header block with the blank line that ends it.
fn header_block(raw: &[u8]) -> Vec<u8> {
    MimeMessage::parse(raw).section(Some(&Section::Header(None)), None)
}
