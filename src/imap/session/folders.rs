//! Commands of the authenticated state (RFC 3501 §6.3): folders, subscriptions, STATUS,
//! APPEND, and QUOTA (RFC 9208). They are valid in the selected state too. SELECT and
//! EXAMINE, which change the state, are in [`super::select`].

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::ListMailbox;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::StatusDataItemName;
use jiff::Timestamp;

use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Common;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::Filed;
use crate::imap::session::conserved;
use crate::imap::session::folder_limits::beyond_folder_limits;
use crate::imap::session::listing;
use crate::imap::session::listing::ListKind;
use crate::imap::session::names::DELIMITER;
use crate::imap::session::names::mailbox_of;
use crate::imap::session::names::name_of;
use crate::imap::session::other_code;
use crate::store::mailbox::Appended;
use crate::store::mailbox::DEFAULT_FOLDERS;
use crate::store::mailbox::INBOX;
use crate::store::subscriptions::Subscribed;

/// SUBSCRIBE or UNSUBSCRIBE.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Subscription {
    Subscribe,
    Unsubscribe,
}

impl Common {
    /// The authenticated-state commands; `None` for a command that is not one of them.
    pub(super) fn authenticated(
        &mut self,
        context: &Context<'_>,
        body: CommandBody<'_>,
    ) -> Result<Option<Vec<Out>>, Fault> {
        if let Some(name) = target_name(&body)
            && conserved::is_view(&name)
            && self.hooks.has_conservation_view()
        {
            return Ok(Some(vec![reply::no(
                context.tag,
                Some(other_code("NOPERM")),
                "the conservation view is read-only",
            )]));
        }
        Ok(Some(match body {
            CommandBody::Create { mailbox } => create(context, &name_of(&mailbox))?,
            CommandBody::Delete { mailbox } => delete(context, &name_of(&mailbox))?,
            CommandBody::Rename { from, to } => rename(context, &name_of(&from), &name_of(&to))?,
            CommandBody::Subscribe { mailbox } => {
                subscribe(context, &name_of(&mailbox), Subscription::Subscribe)?
            }
            CommandBody::Unsubscribe { mailbox } => {
                subscribe(context, &name_of(&mailbox), Subscription::Unsubscribe)?
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(context, &reference, &mailbox_wildcard, ListKind::List)?,
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(context, &reference, &mailbox_wildcard, ListKind::Lsub)?,
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(context, &name_of(&mailbox), &item_names)?,
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let date = date
                    .and_then(|d| Timestamp::from_second(d.as_ref().timestamp()).ok())
                    .unwrap_or(context.now);
                let append = Append {
                    name: &name_of(&mailbox),
                    message: &message,
                    flags: &flags,
                    date,
                };
                self.append(context, &append)?
            }
            CommandBody::GetQuotaRoot { mailbox } => quota_root(context, &mailbox)?,
            CommandBody::GetQuota { root } if root.as_ref().is_empty() => vec![
                listing::quota(context.store, context.user)?,
                reply::ok(context.tag, None, "GETQUOTA completed"),
            ],
            CommandBody::GetQuota { .. } => {
                vec![reply::no(context.tag, None, "no such quota root")]
            }
            CommandBody::SetQuota { .. } => vec![reply::no(
                context.tag,
                Some(other_code("NOPERM")),
                "the postmaster sets quotas",
            )],
            _ => return Ok(None),
        }))
    }

    /// LIST or LSUB, with the conservation view when it is configured.
    fn list(
        &self,
        context: &Context<'_>,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        kind: ListKind,
    ) -> Result<Vec<Out>, Fault> {
        let mut out = listing::list(self, context, reference, pattern, kind)?;
        out.push(reply::ok(
            context.tag,
            None,
            match kind {
                ListKind::Lsub => "LSUB completed",
                ListKind::List => "LIST completed",
            },
        ));
        Ok(out)
    }

    fn status(
        &self,
        context: &Context<'_>,
        name: &str,
        items: &[StatusDataItemName],
    ) -> Result<Vec<Out>, Fault> {
        Ok(match listing::status(self, context, name, items)? {
            Some(data) => vec![
                reply::data(data),
                reply::ok(context.tag, None, "STATUS completed"),
            ],
            None => vec![nonexistent(context)],
        })
    }

    /// APPEND (RFC 3501 §6.3.11, UIDPLUS RFC 4315 APPENDUID), with the provider's
    /// hooks in the same transaction.
    fn append(&self, context: &Context<'_>, append: &Append<'_>) -> Result<Vec<Out>, Fault> {
        let (store, user, tag) = (context.store, context.user, context.tag);
        let bytes = match append.message {
            LiteralOrLiteral8::Literal(literal) => literal.data(),
            LiteralOrLiteral8::Literal8(literal) => literal.data.as_ref(),
        };
        if bytes.len() > self.config.max_append_bytes as usize {
            return Ok(vec![reply::no(
                tag,
                Some(Code::TooBig),
                "message too large",
            )]);
        }
        let Some(folder) = store.read(|tx| tx.folders().get(user, append.name))? else {
            return Ok(vec![reply::no(
                tag,
                Some(Code::TryCreate),
                "no such folder",
            )]);
        };
        let flags: Vec<String> = append.flags.iter().map(ToString::to_string).collect();
        let blob = store.blobs().put(bytes)?;
        let message_id = self.hooks.message_id(bytes);
        let appended = store.write(|tx| {
            tx.headers().record(&blob, bytes)?;
            let appended = tx.mailboxes().append(
                user,
                append.name,
                &blob,
                bytes.len() as u64,
                &flags,
                append.date,
                message_id.as_deref(),
            )?;
            if let Appended::Stored { uid } = appended {
                let filed = Filed {
                    user,
                    folder: append.name,
                    uids: &[uid],
                    message_id: message_id.as_deref(),
                    now: context.now,
                };
                self.hooks.filed(tx, &filed)?;
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

/// An APPEND's arguments.
struct Append<'a> {
    name: &'a str,
    message: &'a LiteralOrLiteral8<'a>,
    flags: &'a [Flag<'a>],
    date: Timestamp,
}

/// CREATE (RFC 3501 §6.3.3): superior levels are created too.
fn create(context: &Context<'_>, name: &str) -> Result<Vec<Out>, Fault> {
    let (store, user, tag) = (context.store, context.user, context.tag);
    let name = name.trim_end_matches(DELIMITER);
    if name.is_empty() || name.eq_ignore_ascii_case(INBOX) {
        return Ok(vec![reply::no(tag, None, "that name cannot be created")]);
    }
    if let Some(refusal) = beyond_folder_limits(store, user, name, tag)? {
        return Ok(vec![refusal]);
    }
    let created = store.write(|tx| {
        let mut at = 0;
        while let Some(slash) = name[at..].find(DELIMITER) {
            tx.folders()
                .create(user, &name[..at + slash], context.now)?;
            at += slash + 1;
        }
        tx.folders().create(user, name, context.now)
    })?;
    Ok(vec![if created {
        reply::ok(tag, None, "CREATE completed")
    } else {
        reply::no(tag, Some(other_code("ALREADYEXISTS")), "folder exists")
    }])
}

/// DELETE (RFC 3501 §6.3.4); the default folders stay.
fn delete(context: &Context<'_>, name: &str) -> Result<Vec<Out>, Fault> {
    let tag = context.tag;
    Ok(vec![if DEFAULT_FOLDERS.contains(&name) {
        reply::no(tag, None, "INBOX, Sent and --ARCHIVIA-- cannot be deleted")
    } else if context
        .store
        .write(|tx| tx.folders().delete(context.user, name))?
    {
        reply::ok(tag, None, "DELETE completed")
    } else {
        nonexistent(context)
    }])
}

/// RENAME (RFC 3501 §6.3.5): INBOX may be renamed (its messages move), the other
/// default folders may not, and none may be a new name.
fn rename(context: &Context<'_>, from: &str, to: &str) -> Result<Vec<Out>, Fault> {
    let (store, user, tag) = (context.store, context.user, context.tag);
    if from != INBOX && DEFAULT_FOLDERS.contains(&from) || DEFAULT_FOLDERS.contains(&to) {
        return Ok(vec![reply::no(
            tag,
            None,
            "that folder cannot be renamed so",
        )]);
    }
    if let Some(refusal) = beyond_folder_limits(store, user, to, tag)? {
        return Ok(vec![refusal]);
    }
    Ok(vec![
        if store.write(|tx| tx.folders().rename(user, from, to, context.now))? {
            reply::ok(tag, None, "RENAME completed")
        } else {
            reply::no(tag, None, "no such folder, or the new name exists")
        },
    ])
}

/// SUBSCRIBE (an existing folder) or UNSUBSCRIBE (any subscribed name, RFC 3501
/// §6.3.6–7).
fn subscribe(
    context: &Context<'_>,
    name: &str,
    subscription: Subscription,
) -> Result<Vec<Out>, Fault> {
    let subscribed = subscription == Subscription::Subscribe;
    let done = context
        .store
        .write(|tx| tx.folders().set_subscribed(context.user, name, subscribed))?;
    Ok(vec![match done {
        Subscribed::Done => reply::ok(context.tag, None, "done"),
        Subscribed::NoSuchName => nonexistent(context),
        Subscribed::TooMany => reply::no(
            context.tag,
            Some(other_code("LIMIT")),
            "too many subscriptions",
        ),
    }])
}

/// GETQUOTAROOT (RFC 9208 §4.3.2): every folder is under the one root.
fn quota_root(context: &Context<'_>, mailbox: &Mailbox<'_>) -> Result<Vec<Out>, Fault> {
    Ok(vec![
        reply::data(Data::QuotaRoot {
            mailbox: mailbox_of(&name_of(mailbox)),
            roots: vec![listing::quota_root()],
        }),
        listing::quota(context.store, context.user)?,
        reply::ok(context.tag, None, "GETQUOTAROOT completed"),
    ])
}

fn nonexistent(context: &Context<'_>) -> Out {
    reply::no(
        context.tag,
        Some(other_code("NONEXISTENT")),
        "no such folder",
    )
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
