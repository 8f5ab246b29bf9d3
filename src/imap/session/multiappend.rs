//! APPEND of several messages at once (MULTIAPPEND, RFC 3502) and of messages put
//! together from text and parts of stored messages named by IMAP URLs (CATENATE,
//! RFC 4469). All or nothing: every URL is resolved and every size checked before the
//! one transaction that stores them all, with the provider's hooks, under the quota.

use std::num::NonZeroU32;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::fetch::MessageDataItemName;
use imap_codec::imap_types::fetch::Section;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::CodeOther;

use crate::imap::extended::append::Appends;
use crate::imap::extended::append::Part;
use crate::imap::message::MimeMessage;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Common;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::Filed;
use crate::imap::session::conserved;
use crate::imap::session::other_code;
use crate::store::StoreError;
use crate::store::mailbox::Appended;
use crate::store::mailbox::INBOX;

/// What the one transaction did.
enum Outcome {
    Stored(Vec<u32>),
    OverQuota,
    NotInService,
}

impl Common {
    /// MULTIAPPEND / CATENATE: the messages of `appends`, stored together or not at all.
    pub(super) fn append_many(
        &self,
        context: &Context<'_>,
        appends: &Appends,
    ) -> Result<Vec<Out>, Fault> {
        let (store, user, tag) = (context.store, context.user, context.tag);
        let name = if appends.mailbox.eq_ignore_ascii_case(INBOX) {
            INBOX
        } else {
            appends.mailbox.as_str()
        };
        if conserved::is_view(name) && self.hooks.has_conservation_view() {
            return Ok(vec![reply::no(
                tag,
                Some(other_code("NOPERM")),
                "the conservation view is read-only",
            )]);
        }
        let Some(folder) = store.read(|tx| tx.folders().get(user, name))? else {
            return Ok(vec![reply::no(
                tag,
                Some(Code::TryCreate),
                "no such folder",
            )]);
        };
        let mut messages = Vec::with_capacity(appends.messages.len());
        for message in &appends.messages {
            let mut bytes = Vec::new();
            for part in &message.parts {
                match part {
                    Part::Text(text) => bytes.extend_from_slice(text),
                    Part::Url(url) => match resolve(context, url)? {
                        Some(piece) => bytes.extend_from_slice(&piece),
                        None => {
                            let code = format!("BADURL {}", quoted(url));
                            let code = Code::Other(CodeOther::unvalidated(code.into_bytes()));
                            return Ok(vec![reply::no(tag, Some(code), "URL not valid here")]);
                        }
                    },
                }
            }
            if bytes.len() > self.config.max_append_bytes as usize {
                return Ok(vec![reply::no(
                    tag,
                    Some(Code::TooBig),
                    "message too large",
                )]);
            }
            messages.push(bytes);
        }
        let outcome = self.store_all(context, name, appends, &messages)?;
        Ok(vec![match outcome {
            Outcome::Stored(uids) => {
                let set = crate::imap::extended::compress(&uids);
                let code = format!("APPENDUID {} {set}", folder.uidvalidity);
                let code = Code::Other(CodeOther::unvalidated(code.into_bytes()));
                reply::ok(tag, Some(code), "APPEND completed")
            }
            Outcome::OverQuota => reply::no(tag, Some(Code::OverQuota), "mailbox quota exceeded"),
            Outcome::NotInService => reply::no(tag, None, "mailbox not in service"),
        }])
    }

    /// Stores `messages` in one transaction: the quota is checked for all of them
    /// first, so none is stored when they do not all fit.
    fn store_all(
        &self,
        context: &Context<'_>,
        name: &str,
        appends: &Appends,
        messages: &[Vec<u8>],
    ) -> Result<Outcome, Fault> {
        let (store, user) = (context.store, context.user);
        let mut blobs = Vec::with_capacity(messages.len());
        for bytes in messages {
            blobs.push((store.blobs().put(bytes)?, self.hooks.message_id(bytes)));
        }
        let total: u64 = messages.iter().map(|m| m.len() as u64).sum();
        store.write(|tx| {
            let Some(mailbox) = tx.mailboxes().get(user)? else {
                return Ok(Outcome::NotInService);
            };
            if mailbox.used_bytes.saturating_add(total) > mailbox.quota_bytes {
                return Ok(Outcome::OverQuota);
            }
            let mut uids = Vec::with_capacity(messages.len());
            for ((bytes, (blob, message_id)), message) in
                messages.iter().zip(&blobs).zip(&appends.messages)
            {
                let appended = tx.mailboxes().append(
                    user,
                    name,
                    blob,
                    bytes.len() as u64,
                    &message.flags,
                    message.date.unwrap_or(context.now),
                    message_id.as_deref(),
                )?;
                let Appended::Stored { uid } = appended else {
                    // Nothing of the transaction is kept: all or none.
                    return match uids.is_empty() {
                        true => Ok(Outcome::NotInService),
                        false => Err(StoreError::Internal("MULTIAPPEND refused midway")),
                    };
                };
                let filed = Filed {
                    user,
                    folder: name,
                    uids: &[uid],
                    message_id: message_id.as_deref(),
                    now: context.now,
                };
                self.hooks.filed(tx, &filed)?;
                uids.push(uid);
            }
            Ok(Outcome::Stored(uids))
        })
    }
}

/// The bytes an IMAP URL of this server names (RFC 5092, path-absolute:
/// `/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]`), from the user's
/// own folders; `None` when it names nothing there.
fn resolve(context: &Context<'_>, url: &str) -> Result<Option<Vec<u8>>, Fault> {
    let Some(path) = url.strip_prefix('/') else {
        return Ok(None);
    };
    let mut segments = path.split("/;");
    let Some(first) = segments.next() else {
        return Ok(None);
    };
    let (mailbox, uidvalidity) = match first.split_once(';') {
        Some((mailbox, rest)) => (mailbox, value_of(rest, "UIDVALIDITY")),
        None => (first, None),
    };
    let mailbox = percent_decoded(mailbox);
    let mailbox = if mailbox.eq_ignore_ascii_case(INBOX) {
        INBOX.to_string()
    } else {
        mailbox
    };
    let (mut uid, mut section, mut partial) = (None, None, None);
    for segment in segments {
        if let Some(value) = value_of(segment, "UID") {
            uid = value.parse::<u32>().ok();
        } else if let Some(value) = value_of(segment, "SECTION") {
            section = Some(percent_decoded(value));
        } else if let Some(value) = value_of(segment, "PARTIAL") {
            partial = Some(value.to_string());
        } else {
            return Ok(None);
        }
    }
    let (store, user) = (context.store, context.user);
    let Some(uid) = uid else {
        return Ok(None);
    };
    let found = store.read(|tx| {
        let folder = tx.folders().get(user, &mailbox)?;
        let valid =
            folder.is_some_and(|f| uidvalidity.is_none_or(|v| v == f.uidvalidity.to_string()));
        if !valid {
            return Ok(None);
        }
        tx.folders().message(user, &mailbox, uid)
    })?;
    let Some(meta) = found else {
        return Ok(None);
    };
    let section = match section.as_deref().map(parse_section) {
        Some(None) => return Ok(None),
        Some(Some(section)) => Some(section),
        None => None,
    };
    let Some(partial) = partial
        .as_deref()
        .map(parse_partial)
        .unwrap_or(Some((0, None)))
    else {
        return Ok(None);
    };
    let raw = store.blobs().read_unverified(&meta.blob)?;
    let bytes = MimeMessage::parse(&raw).section(section.as_ref(), None);
    let (origin, length) = partial;
    let from = (origin as usize).min(bytes.len());
    let to = length.map_or(bytes.len(), |l| {
        from.saturating_add(l.get() as usize).min(bytes.len())
    });
    Ok(Some(bytes[from..to].to_vec()))
}

/// `KEY=value` of a URL segment, the key compared without regard to case.
fn value_of<'s>(segment: &'s str, key: &str) -> Option<&'s str> {
    let (name, value) = segment.split_once('=')?;
    name.eq_ignore_ascii_case(key).then_some(value)
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A section spec as FETCH writes it (`HEADER`, `1.2.MIME`, `HEADER.FIELDS (TO)`),
/// read by the codec from the FETCH it would appear in.
fn parse_section(spec: &str) -> Option<Section<'static>> {
    let command = format!("x FETCH 1 BODY.PEEK[{spec}]\r\n");
    let (_, command) = CommandCodec::default().decode(command.as_bytes()).ok()?;
    let CommandBody::Fetch {
        macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
        ..
    } = command.body
    else {
        return None;
    };
    match names.into_iter().next()? {
        MessageDataItemName::BodyExt { section, .. } => section.map(IntoStatic::into_static),
        _ => None,
    }
}

/// `origin[.length]`.
fn parse_partial(value: &str) -> Option<(u32, Option<NonZeroU32>)> {
    match value.split_once('.') {
        Some((origin, length)) => Some((origin.parse().ok()?, Some(length.parse().ok()?))),
        None => Some((value.parse().ok()?, None)),
    }
}

/// `url` as an IMAP quoted string.
fn quoted(url: &str) -> String {
    let escaped: String = url
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}
