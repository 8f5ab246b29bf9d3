//! Commands of the authenticated state (RFC 3501 §6.3): folders, subscriptions, STATUS,
//! APPEND, and QUOTA (RFC 9208). They are valid in the selected state too.

use std::collections::BTreeSet;
use std::collections::HashMap;

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::QuotedChar;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::mailbox::ListMailbox;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Fault;
use crate::imap::session::Selection;
use crate::imap::session::Session;
use crate::imap::session::conserved;
use crate::imap::session::folder_limits::beyond_folder_limits;
use crate::imap::session::listing::list;
use crate::imap::session::listing::quota;
use crate::imap::session::listing::quota_root;
use crate::imap::session::listing::status;
use crate::imap::session::other_code;
use crate::store::Store;
use crate::store::mailbox::ARCHIVE;
use crate::store::mailbox::Appended;
use crate::store::mailbox::DEFAULT_FOLDERS;
use crate::store::mailbox::INBOX;
use crate::store::mailbox::SENT;

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

impl Session {
    /// The authenticated-state commands; empty output means "not one of them".
    pub(super) fn authenticated(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        body: CommandBody<'_>,
        extended: &Extended,
        now: Timestamp,
    ) -> Result<Vec<Out>, Fault> {
        if let Some(name) = target_name(&body)
            && conserved::is_view(&name)
            && self.config.conservation_root.is_some()
        {
            return Ok(vec![reply::no(
                tag,
                Some(other_code("NOPERM")),
                "the conservation view is read-only",
            )]);
        }
        Ok(match body {
            CommandBody::Select {
                mailbox,
                parameters,
            } => {
                let condstore = !parameters.is_empty();
                self.select(store, user, tag, &name_of(&mailbox), false, condstore)?
            }
            CommandBody::Examine {
                mailbox,
                parameters,
            } => {
                let condstore = !parameters.is_empty();
                self.select(store, user, tag, &name_of(&mailbox), true, condstore)?
            }
            CommandBody::Create { mailbox } => {
                let name = name_of(&mailbox);
                let name = name.trim_end_matches(DELIMITER);
                if name.is_empty() || name.eq_ignore_ascii_case(INBOX) {
                    vec![reply::no(tag, None, "that name cannot be created")]
                } else if let Some(refusal) = beyond_folder_limits(store, user, name, tag)? {
                    vec![refusal]
                } else if store.write(|tx| {
                    // Superior levels are created too (RFC 3501 §6.3.3).
                    let mut at = 0;
                    while let Some(slash) = name[at..].find(DELIMITER) {
                        tx.folders().create(user, &name[..at + slash], now)?;
                        at += slash + 1;
                    }
                    tx.folders().create(user, name, now)
                })? {
                    vec![reply::ok(tag, None, "CREATE completed")]
                } else {
                    vec![reply::no(
                        tag,
                        Some(other_code("ALREADYEXISTS")),
                        "folder exists",
                    )]
                }
            }
            CommandBody::Delete { mailbox } => {
                let name = name_of(&mailbox);
                if DEFAULT_FOLDERS.contains(&name.as_str()) {
                    vec![reply::no(
                        tag,
                        None,
                        "INBOX, Sent and --ARCHIVIA-- cannot be deleted",
                    )]
                } else if store.write(|tx| tx.folders().delete(user, &name))? {
                    vec![reply::ok(tag, None, "DELETE completed")]
                } else {
                    vec![reply::no(
                        tag,
                        Some(other_code("NONEXISTENT")),
                        "no such folder",
                    )]
                }
            }
            CommandBody::Rename { from, to } => {
                let (from, to) = (name_of(&from), name_of(&to));
                if from != INBOX && DEFAULT_FOLDERS.contains(&from.as_str())
                    || DEFAULT_FOLDERS.contains(&to.as_str())
                {
                    vec![reply::no(tag, None, "that folder cannot be renamed so")]
                } else if let Some(refusal) = beyond_folder_limits(store, user, &to, tag)? {
                    vec![refusal]
                } else if store.write(|tx| tx.folders().rename(user, &from, &to, now))? {
                    vec![reply::ok(tag, None, "RENAME completed")]
                } else {
                    vec![reply::no(
                        tag,
                        None,
                        "no such folder, or the new name exists",
                    )]
                }
            }
            CommandBody::Subscribe { mailbox } => {
                subscribe(store, user, tag, &name_of(&mailbox), true)?
            }
            CommandBody::Unsubscribe { mailbox } => {
                subscribe(store, user, tag, &name_of(&mailbox), false)?
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(
                store,
                user,
                tag,
                &reference,
                &mailbox_wildcard,
                extended,
                false,
            )?,
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(
                store,
                user,
                tag,
                &reference,
                &mailbox_wildcard,
                extended,
                true,
            )?,
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let name = name_of(&mailbox);
                let view = self.config.conservation_root.is_some();
                match status(store, user, &name, &item_names, view)? {
                    Some(data) => vec![reply::data(data), reply::ok(tag, None, "STATUS completed")],
                    None => vec![reply::no(
                        tag,
                        Some(other_code("NONEXISTENT")),
                        "no such folder",
                    )],
                }
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let bytes = match &message {
                    LiteralOrLiteral8::Literal(literal) => literal.data(),
                    LiteralOrLiteral8::Literal8(literal) => literal.data.as_ref(),
                };
                let flags: Vec<String> = flags.iter().map(ToString::to_string).collect();
                let date = date
                    .and_then(|d| Timestamp::from_second(d.as_ref().timestamp()).ok())
                    .unwrap_or(now);
                let mut out =
                    self.append(store, user, tag, &name_of(&mailbox), bytes, &flags, date)?;
                if let Some(selection) = self.selected.as_mut() {
                    let mut changes = selection.sync(store, user, true, self.condstore)?;
                    changes.append(&mut out);
                    out = changes;
                }
                out
            }
            CommandBody::GetQuotaRoot { mailbox } => {
                let name = name_of(&mailbox);
                vec![
                    reply::data(Data::QuotaRoot {
                        mailbox: mailbox_of(&name),
                        roots: vec![quota_root()],
                    }),
                    quota(store, user)?,
                    reply::ok(tag, None, "GETQUOTAROOT completed"),
                ]
            }
            CommandBody::GetQuota { root } => {
                if root.as_ref().is_empty() {
                    vec![
                        quota(store, user)?,
                        reply::ok(tag, None, "GETQUOTA completed"),
                    ]
                } else {
                    vec![reply::no(tag, None, "no such quota root")]
                }
            }
            CommandBody::SetQuota { .. } => {
                vec![reply::no(
                    tag,
                    Some(other_code("NOPERM")),
                    "the postmaster sets quotas",
                )]
            }
            _ => Vec::new(),
        })
    }

    fn select(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        name: &str,
        read_only: bool,
        condstore: bool,
    ) -> Result<Vec<Out>, Fault> {
        // A new SELECT first leaves the current folder (RFC 3501 §6.3.1; RFC 7162 §3.2.11 CLOSED).
        let mut out = Vec::new();
        if self.selected.take().is_some() {
            out.push(reply::untagged_ok(
                Some(Code::Closed),
                "previous folder closed",
            ));
        }
        if condstore {
            self.condstore = true;
        }
        if conserved::is_view(name) && self.config.conservation_root.is_some() {
            out.extend(self.select_view(store, user, tag, name)?);
            return Ok(out);
        }
        let Some(folder) = store.read(|tx| tx.folders().get(user, name))? else {
            out.push(reply::no(
                tag,
                Some(other_code("NONEXISTENT")),
                "no such folder",
            ));
            return Ok(out);
        };
        // Nothing arrived since the last session claimed the recent messages: no
        // commit (and fsync) just to move the mark onto itself. What arrives after this
        // read is left to the next session, as it would be after a claim.
        let first_recent = if read_only || folder.first_recent_uid >= folder.uidnext {
            None
        } else {
            store.write(|tx| tx.folders().claim_recent(user, name))?
        };
        let metas = store.read(|tx| tx.mailboxes().messages(user, name))?;
        let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
        let recent: BTreeSet<u32> = first_recent
            .map(|first| uids.iter().copied().filter(|u| *u >= first).collect())
            .unwrap_or_default();
        let first_unseen = metas
            .iter()
            .position(|m| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")));
        out.push(reply::data(Data::Flags(system_flags())));
        out.push(reply::untagged_ok(
            Some(Code::PermanentFlags(permanent_flags(read_only))),
            "flags permitted",
        ));
        out.push(reply::data(Data::Exists(
            u32::try_from(uids.len()).unwrap_or(u32::MAX),
        )));
        out.push(reply::data(Data::Recent(
            u32::try_from(recent.len()).unwrap_or(u32::MAX),
        )));
        if let Some(index) = first_unseen {
            out.push(reply::untagged_ok(
                Some(Code::Unseen(reply::nz(
                    u32::try_from(index + 1).unwrap_or(u32::MAX),
                ))),
                "first unseen",
            ));
        }
        out.push(reply::untagged_ok(
            Some(Code::UidValidity(reply::nz(folder.uidvalidity))),
            "UIDs valid",
        ));
        out.push(reply::untagged_ok(
            Some(Code::UidNext(reply::nz(folder.uidnext))),
            "predicted next UID",
        ));
        out.push(reply::untagged_ok(
            Some(Code::HighestModSeq(super::view::modseq_nz(
                folder.highest_modseq.max(1),
            ))),
            "highest",
        ));
        let code = if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        out.push(reply::ok(
            tag,
            Some(code),
            if read_only {
                "EXAMINE completed"
            } else {
                "SELECT completed"
            },
        ));
        self.selected = Some(Selection {
            folder: name.to_string(),
            read_only,
            uidvalidity: folder.uidvalidity,
            uids,
            recent,
            modseq: folder.highest_modseq,
            own: HashMap::new(),
            deferred: false,
            conserved: None,
        });
        Ok(out)
    }

    /// LIST or LSUB, with the conservation view when it is configured.
    #[allow(clippy::too_many_arguments)]
    fn list(
        &self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        extended: &Extended,
        lsub: bool,
    ) -> Result<Vec<Out>, Fault> {
        let view = self.config.conservation_root.is_some();
        let mut out = list(store, user, reference, pattern, extended, lsub, view)?;
        out.push(reply::ok(
            tag,
            None,
            if lsub {
                "LSUB completed"
            } else {
                "LIST completed"
            },
        ));
        Ok(out)
    }

    /// SELECT or EXAMINE of a conservation view folder: always read-only.
    fn select_view(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        name: &str,
    ) -> Result<Vec<Out>, Fault> {
        let Some(entries) = conserved::folders(store, user)?.remove(name) else {
            return Ok(vec![reply::no(
                tag,
                Some(other_code("NONEXISTENT")),
                "no such folder",
            )]);
        };
        let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        let out = vec![
            reply::data(Data::Flags(system_flags())),
            reply::untagged_ok(
                Some(Code::PermanentFlags(Vec::new())),
                "conserved: read-only",
            ),
            reply::data(Data::Exists(count)),
            reply::data(Data::Recent(0)),
            reply::untagged_ok(
                Some(Code::UidValidity(reply::nz(conserved::UIDVALIDITY))),
                "UIDs valid",
            ),
            reply::untagged_ok(
                Some(Code::UidNext(reply::nz(count.saturating_add(1)))),
                "predicted next UID",
            ),
            reply::ok(tag, Some(Code::ReadOnly), "conserved messages, read-only"),
        ];
        self.selected = Some(Selection {
            folder: name.to_string(),
            read_only: true,
            uidvalidity: conserved::UIDVALIDITY,
            uids: (1..=count).collect(),
            recent: BTreeSet::new(),
            modseq: 1,
            own: HashMap::new(),
            deferred: false,
            conserved: Some(entries),
        });
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        store: &Store,
        user: &str,
        tag: &Tag<'static>,
        name: &str,
        bytes: &[u8],
        flags: &[String],
        date: Timestamp,
    ) -> Result<Vec<Out>, Fault> {
        if bytes.len() > self.config.max_append_bytes as usize {
            return Ok(vec![reply::no(
                tag,
                Some(Code::TooBig),
                "message too large",
            )]);
        }
        let Some(folder) = store.read(|tx| tx.folders().get(user, name))? else {
            return Ok(vec![reply::no(
                tag,
                Some(Code::TryCreate),
                "no such folder",
            )]);
        };
        let blob = store.blobs().put(bytes)?;
        let message_id = crate::provider::correlation::message_id(bytes);
        let now = Timestamp::now();
        let appended = store.write(|tx| {
            let appended = tx.mailboxes().append(
                user,
                name,
                &blob,
                bytes.len() as u64,
                flags,
                date,
                message_id.as_deref(),
            )?;
            if let (Appended::Stored { uid }, Some(id)) = (appended, message_id.as_deref())
                && name == SENT
            {
                crate::provider::correlation::catch_up(tx, user, uid, id)?;
            }
            if let Appended::Stored { uid } = appended
                && name == ARCHIVE
            {
                queue_archived(tx, user, uid, now)?;
            }
            Ok(appended)
        })?;
        Ok(vec![match appended {
            Appended::Stored { uid } => reply::ok(
                tag,
                Some(Code::AppendUid {
                    uid_validity: reply::nz(folder.uidvalidity),
                    uid: reply::nz(uid),
                }),
                "APPEND completed",
            ),
            Appended::OverQuota => reply::no(tag, Some(Code::OverQuota), "mailbox quota exceeded"),
            Appended::Suspended | Appended::NoMailbox => {
                reply::no(tag, None, "mailbox not in service")
            }
        }])
    }
}

/// A message just filed into `--ARCHIVIA--` is queued for conservation in the same
/// transaction; the conservation worker removes it from the folder once it is in a
/// package, so the folder empties as the work gets done.
pub(super) fn queue_archived(
    tx: &mut crate::store::Tx<'_>,
    user: &str,
    uid: u32,
    now: Timestamp,
) -> Result<(), Fault> {
    if let Some(meta) = tx.folders().message(user, ARCHIVE, uid)? {
        crate::conservation::queue::enqueue_manual(
            tx,
            user,
            &meta.blob,
            meta.size,
            Some(uid),
            now,
        )?;
    }
    Ok(())
}

/// `* NAMESPACE (("" "/")) NIL NIL`: one personal namespace.
pub fn namespace() -> Data<'static> {
    Data::Namespace {
        personal: vec![Namespace {
            prefix: IString::try_from("").unwrap_or_else(|_| {
                IString::Quoted(imap_codec::imap_types::core::Quoted::unvalidated(""))
            }),
            delimiter: QuotedChar::try_from(DELIMITER).ok(),
            extensions: Vec::new(),
        }],
        other: Vec::new(),
        shared: Vec::new(),
    }
}

/// The folder a command would change (the conservation view refuses them all).
fn target_name(body: &CommandBody<'_>) -> Option<String> {
    match body {
        CommandBody::Create { mailbox }
        | CommandBody::Delete { mailbox }
        | CommandBody::Append { mailbox, .. } => Some(name_of(mailbox)),
        CommandBody::Rename { from, to } => {
            let (from, to) = (name_of(from), name_of(to));
            Some(if conserved::is_view(&from) { from } else { to })
        }
        _ => None,
    }
}

/// A folder name from the wire (INBOX is case-insensitive, RFC 3501 §5.1).
pub fn name_of(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => INBOX.to_string(),
        Mailbox::Other(other) => {
            let name = String::from_utf8_lossy(other.inner().as_ref()).into_owned();
            if name.eq_ignore_ascii_case(INBOX) {
                INBOX.to_string()
            } else {
                name
            }
        }
    }
}

/// A folder name for the wire.
pub fn mailbox_of(name: &str) -> Mailbox<'static> {
    Mailbox::try_from(name.to_string()).unwrap_or(Mailbox::Inbox)
}

fn subscribe(
    store: &Store,
    user: &str,
    tag: &Tag<'static>,
    name: &str,
    subscribed: bool,
) -> Result<Vec<Out>, Fault> {
    Ok(
        if store.write(|tx| tx.folders().set_subscribed(user, name, subscribed))? {
            vec![reply::ok(tag, None, "done")]
        } else {
            vec![reply::no(
                tag,
                Some(other_code("NONEXISTENT")),
                "no such folder",
            )]
        },
    )
}

fn system_flags() -> Vec<imap_codec::imap_types::flag::Flag<'static>> {
    use imap_codec::imap_types::flag::Flag;
    vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ]
}

fn permanent_flags(read_only: bool) -> Vec<imap_codec::imap_types::flag::FlagPerm<'static>> {
    use imap_codec::imap_types::flag::FlagPerm;
    if read_only {
        return Vec::new();
    }
    let mut flags: Vec<FlagPerm<'static>> =
        system_flags().into_iter().map(FlagPerm::Flag).collect();
    flags.push(FlagPerm::Asterisk);
    flags
}
