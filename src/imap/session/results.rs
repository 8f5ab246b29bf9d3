//! The result commands of the selected state beyond plain SEARCH: the message loop of
//! SEARCH itself (header keys answered from the header index), SORT (RFC 5256, RFC
//! 5957), THREAD (RFC 5256), their ESEARCH forms (ESORT, PARTIAL, RFC 5267) and the
//! start of CONTEXT=SEARCH updates ([`updates`]).
//!
//! Headers come from [`crate::store::headers`]: one walk over the index for the
//! folder, and for a body not indexed yet (stored before the index existed) the body
//! is read once, indexed, and the index kept for next time.

use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::sort::SortKey;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;

use crate::imap::extended::compress;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::search;
use crate::imap::search::Reads;
use crate::imap::search::returns::Returns;
use crate::imap::session::Fault;
use crate::imap::session::selected::InFolder;
use crate::imap::sort;
use crate::imap::sort::Sortable;
use crate::imap::thread;
use crate::imap::thread::Threadable;
use crate::mail::header_index::HeaderIndex;
use crate::store::blobs::BlobId;
use crate::store::mailbox::MessageMeta;

mod updates;

pub(super) use updates::Updates;

/// A message a search matched.
#[derive(Clone, Debug)]
pub(super) struct Matched {
    /// Its sequence number.
    pub(super) seq: u32,
    /// Its MODSEQ.
    pub(super) modseq: u64,
    /// The rest of what is known of it.
    pub(super) meta: MessageMeta,
}

impl Matched {
    /// Its UID.
    pub(super) fn uid(&self) -> u32 {
        self.meta.uid
    }
}

impl InFolder<'_, '_> {
    /// The messages of the selected folder that match `key` (RFC 3501 §6.4.4), in
    /// sequence order.
    pub(super) fn matching(&self, key: &SearchKey<'_>) -> Result<Vec<Matched>, Fault> {
        let selection = &*self.selection;
        let metas = match &selection.conserved {
            Some(entries) => super::conserved::metas(entries),
            None => self.context.store.read(|tx| {
                tx.mailboxes()
                    .messages(self.context.user, &selection.folder)
            })?,
        };
        let bounds = search::Bounds {
            max_seq: selection.exists(),
            max_uid: selection.max_uid(),
        };
        let seen: Vec<(u32, MessageMeta)> = metas
            .into_iter()
            .filter_map(|meta| Some((selection.seq_of(meta.uid)?, meta)))
            .collect();
        let candidate = |seq: u32, meta: &MessageMeta| search::Candidate {
            seq,
            uid: meta.uid,
            flags: &[],
            recent: selection.recent.contains(&meta.uid),
            internal_date: meta.internal_date,
            size: meta.size,
            modseq: meta.modseq,
            header: None,
            raw: &[],
        };
        let mut hits = vec![false; seen.len()];
        match search::reads(key) {
            Reads::Nothing => {
                for (hit, (seq, meta)) in hits.iter_mut().zip(&seen) {
                    let candidate = search::Candidate {
                        flags: &meta.flags,
                        ..candidate(*seq, meta)
                    };
                    *hit = search::matches(key, &candidate, bounds);
                }
            }
            Reads::Header => self.each_header(&seen, |index, header| {
                if let (Some(hit), Some((seq, meta))) = (hits.get_mut(index), seen.get(index)) {
                    let candidate = search::Candidate {
                        flags: &meta.flags,
                        header: Some(header),
                        ..candidate(*seq, meta)
                    };
                    *hit = search::matches(key, &candidate, bounds);
                }
            })?,
            Reads::Message => {
                for (hit, (seq, meta)) in hits.iter_mut().zip(&seen) {
                    let raw = self.raw(meta).unwrap_or_default();
                    let candidate = search::Candidate {
                        flags: &meta.flags,
                        raw: &raw,
                        ..candidate(*seq, meta)
                    };
                    *hit = search::matches(key, &candidate, bounds);
                }
            }
        }
        Ok(seen
            .into_iter()
            .zip(hits)
            .filter(|(_, hit)| *hit)
            .map(|((seq, meta), _)| Matched {
                seq,
                modseq: meta.modseq,
                meta,
            })
            .collect())
    }

    /// Calls `each(index, header)` with the header index of every message of
    /// `messages`: from the store, or made from the body (and kept) when missing.
    pub(super) fn each_header(
        &self,
        messages: &[(u32, MessageMeta)],
        mut each: impl FnMut(usize, &HeaderIndex<&str>),
    ) -> Result<(), Fault> {
        let blobs: Vec<&BlobId> = messages.iter().map(|(_, meta)| &meta.blob).collect();
        let mut found = vec![false; messages.len()];
        self.context.store.read(|tx| {
            tx.headers().each_indexed(&blobs, |index, header| {
                if let Some(slot) = found.get_mut(index) {
                    *slot = true;
                }
                each(index, header);
            })
        })?;
        let mut made: Vec<(&BlobId, HeaderIndex<String>)> = Vec::new();
        for (index, (_, meta)) in messages.iter().enumerate() {
            if found.get(index).copied().unwrap_or(true) {
                continue;
            }
            let header = match self.raw(meta) {
                Ok(raw) => HeaderIndex::of_message(&raw),
                Err(error) => {
                    tracing::error!(%error, uid = meta.uid, "message body unreadable");
                    each(index, &HeaderIndex::default());
                    continue;
                }
            };
            each(index, &header.view());
            made.push((&meta.blob, header));
        }
        self.keep_index(&made);
        Ok(())
    }

    /// Keeps header indexes made from bodies. The index is an optimisation: failing
    /// to keep it is logged, not fatal.
    fn keep_index(&self, made: &[(&BlobId, HeaderIndex<String>)]) {
        if made.is_empty() {
            return;
        }
        if let Err(error) = self.context.store.write(|tx| {
            for (blob, header) in made {
                tx.headers().index(blob, header)?;
            }
            Ok(())
        }) {
            tracing::warn!(%error, "header index not updated");
        }
    }

    /// SORT (RFC 5256 §3), or ESORT when `returns` (RFC 5267 §3).
    pub(super) fn sort_command(
        &mut self,
        criteria: &Vec1<SortCriterion>,
        charset: &Charset<'_>,
        search_criteria: &SearchKey<'_>,
        by_uid: bool,
        returns: Option<&Returns>,
    ) -> Result<Vec<Out>, Fault> {
        let tag = self.context.tag;
        if let Some(refusal) = bad_charset(tag, charset) {
            return Ok(vec![refusal]);
        }
        let criteria = criteria.as_ref();
        let numbers = self.sorted(criteria, search_criteria, by_uid)?;
        if returns.is_some_and(|returns| returns.update) {
            let uids = match by_uid {
                true => numbers.clone(),
                false => self.sorted(criteria, search_criteria, true)?,
            };
            if let Some(refusal) = self.start_update(search_criteria, Some(criteria), by_uid, uids)
            {
                return Ok(vec![refusal]);
            }
        }
        let mut out = vec![match returns {
            Some(returns) => Out::Raw(esearch(tag, by_uid, returns, &numbers)),
            None => reply::data(Data::Sort(
                numbers.iter().map(|n| reply::nz(*n)).collect(),
                None,
            )),
        }];
        out.push(reply::ok(tag, None, "SORT completed"));
        Ok(out)
    }

    /// The messages matching `key` in the order of `criteria`: their UIDs, or their
    /// sequence numbers.
    pub(super) fn sorted(
        &self,
        criteria: &[SortCriterion],
        key: &SearchKey<'_>,
        by_uid: bool,
    ) -> Result<Vec<u32>, Fault> {
        let matched = self.matching(key)?;
        let header_keys = criteria
            .iter()
            .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
        let messages: Vec<(u32, MessageMeta)> = matched
            .into_iter()
            .map(|m| (if by_uid { m.uid() } else { m.seq }, m.meta))
            .collect();
        let sortable = |number: u32, meta: &MessageMeta, header: &HeaderIndex<&str>| {
            let arrival = meta.internal_date.as_second();
            Sortable {
                seq: number,
                arrival,
                size: meta.size,
                keys: sort::keys(criteria, header, arrival, meta.size),
            }
        };
        let mut sorted: Vec<Sortable> = Vec::with_capacity(messages.len());
        if header_keys {
            let mut slots: Vec<Option<Sortable>> = vec![None; messages.len()];
            self.each_header(&messages, |index, header| {
                if let (Some(slot), Some((number, meta))) =
                    (slots.get_mut(index), messages.get(index))
                {
                    *slot = Some(sortable(*number, meta, header));
                }
            })?;
            sorted.extend(slots.into_iter().flatten());
        } else {
            let empty = HeaderIndex::default();
            sorted.extend(messages.iter().map(|(n, meta)| sortable(*n, meta, &empty)));
        }
        sort::sort(&mut sorted, criteria);
        Ok(sorted.iter().map(|s| s.seq).collect())
    }

    /// THREAD (RFC 5256 §3).
    pub(super) fn thread_command(
        &mut self,
        algorithm: &ThreadingAlgorithm<'_>,
        charset: &Charset<'_>,
        search_criteria: &SearchKey<'_>,
        by_uid: bool,
    ) -> Result<Vec<Out>, Fault> {
        let tag = self.context.tag;
        if let Some(refusal) = bad_charset(tag, charset) {
            return Ok(vec![refusal]);
        }
        let threader: fn(&[Threadable]) -> Vec<_> = match algorithm {
            ThreadingAlgorithm::References => thread::references,
            ThreadingAlgorithm::OrderedSubject => thread::ordered_subject,
            ThreadingAlgorithm::Other(_) => {
                return Ok(vec![reply::bad(tag, "unknown threading algorithm")]);
            }
        };
        let matched = self.matching(search_criteria)?;
        let messages: Vec<(u32, MessageMeta)> = matched
            .iter()
            .map(|m| (if by_uid { m.uid() } else { m.seq }, m.meta.clone()))
            .collect();
        let mut slots: Vec<Option<Threadable>> = vec![None; messages.len()];
        self.each_header(&messages, |index, header| {
            if let (Some(slot), Some((number, meta))) = (slots.get_mut(index), messages.get(index))
            {
                let arrival = meta.internal_date.as_second();
                *slot = Some(Threadable::of(*number, arrival, header));
            }
        })?;
        let threadable: Vec<Threadable> = slots.into_iter().flatten().collect();
        Ok(vec![
            reply::data(Data::Thread(threader(&threadable))),
            reply::ok(tag, None, "THREAD completed"),
        ])
    }

    /// SEARCH with the result options of RFC 5267 (PARTIAL, UPDATE).
    pub(super) fn context_search(
        &mut self,
        charset: Option<&Charset<'_>>,
        key: &SearchKey<'_>,
        by_uid: bool,
        returns: &Returns,
    ) -> Result<Vec<Out>, Fault> {
        let tag = self.context.tag;
        if let Some(refusal) = charset.and_then(|charset| bad_charset(tag, charset)) {
            return Ok(vec![refusal]);
        }
        let matched = self.matching(key)?;
        let numbers: Vec<u32> = matched
            .iter()
            .map(|m| if by_uid { m.uid() } else { m.seq })
            .collect();
        let mut out = vec![Out::Raw(esearch(tag, by_uid, returns, &numbers))];
        if returns.update {
            let uids: Vec<u32> = matched.iter().map(Matched::uid).collect();
            if let Some(refusal) = self.start_update(key, None, by_uid, uids) {
                return Ok(vec![refusal]);
            }
        }
        out.push(reply::ok(tag, None, "SEARCH completed"));
        Ok(out)
    }
}

/// `NO [BADCHARSET]` for a charset other than UTF-8 and US-ASCII, as SEARCH answers.
fn bad_charset(tag: &Tag<'static>, charset: &Charset<'_>) -> Option<Out> {
    let name = charset.as_ref().to_ascii_uppercase();
    (name != "UTF-8" && name != "US-ASCII").then(|| {
        reply::no(
            tag,
            Some(Code::BadCharset {
                allowed: Vec::new(),
            }),
            "only UTF-8 and US-ASCII",
        )
    })
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set] [PARTIAL (r set)]`
/// for a result in its order (sequence order for SEARCH, sort order for SORT); MIN
/// and MAX are its first and last (RFC 5267 §3).
pub fn esearch(tag: &Tag<'_>, by_uid: bool, returns: &Returns, numbers: &[u32]) -> Vec<u8> {
    let mut line = format!("* ESEARCH (TAG \"{}\")", tag.inner());
    if by_uid {
        line.push_str(" UID");
    }
    if returns.min
        && let Some(min) = numbers.first()
    {
        line.push_str(&format!(" MIN {min}"));
    }
    if returns.max
        && let Some(max) = numbers.last()
    {
        line.push_str(&format!(" MAX {max}"));
    }
    if returns.count {
        line.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if returns.all && !numbers.is_empty() {
        line.push_str(&format!(" ALL {}", compress(numbers)));
    }
    if let Some((first, last)) = returns.partial {
        let from = usize::try_from(first.saturating_sub(1)).unwrap_or(usize::MAX);
        let to = usize::try_from(last)
            .unwrap_or(usize::MAX)
            .min(numbers.len());
        let part = numbers.get(from..to).filter(|part| !part.is_empty());
        let set = part.map_or_else(|| "NIL".to_string(), compress);
        line.push_str(&format!(" PARTIAL ({first}:{last} {set})"));
    }
    line.push_str("\r\n");
    line.into_bytes()
}

#[cfg(test)]
mod tests;
