//! SELECT and EXAMINE (RFC 3501 §6.3.1–2, CONDSTORE RFC 7162 §3.1): what the client
//! is told about the folder it opens, and the [`Selection`] the session keeps. A folder
//! of the conservation view opens read-only from its packages.

use std::collections::BTreeSet;
use std::collections::HashMap;

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::response::Data;

use crate::imap::flags::Flags;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Access;
use crate::imap::session::Common;
use crate::imap::session::Context;
use crate::imap::session::Fault;
use crate::imap::session::Selection;
use crate::imap::session::Session;
use crate::imap::session::State;
use crate::imap::session::conserved;
use crate::imap::session::keywords::Announced;
use crate::imap::session::other_code;
use crate::imap::session::view::CondStore;
use crate::imap::session::view::modseq_nz;
use crate::store::mailbox::Folder;
use crate::store::mailbox::MessageMeta;

/// What opening a folder says, and the selection when it opened.
pub(super) struct Opened {
    pub(super) out: Vec<Out>,
    /// `None`: the folder does not exist (the `NO` is in `out`).
    pub(super) selection: Option<Selection>,
}

impl Opened {
    fn nonexistent(context: &Context<'_>) -> Opened {
        Opened {
            out: vec![reply::no(
                context.tag,
                Some(other_code("NONEXISTENT")),
                "no such folder",
            )],
            selection: None,
        }
    }
}

/// Opens `name` for the session.
pub(super) fn open(
    common: &Common,
    context: &Context<'_>,
    name: &str,
    access: Access,
) -> Result<Opened, Fault> {
    if conserved::is_view(name) && common.hooks.has_conservation_view() {
        return open_view(common, context, name);
    }
    let (store, user) = (context.store, context.user);
    let Some(folder) = store.read(|tx| tx.folders().get(user, name))? else {
        return Ok(Opened::nonexistent(context));
    };
    // EXAMINE shows the recent messages without claiming them (RFC 3501 §6.3.2). When
    // nothing arrived since the last session claimed, SELECT makes no commit (and
    // fsync) just to move the mark onto itself.
    let recent_uids = if access == Access::ReadOnly {
        folder.first_recent_uid.max(1)..u32::MAX
    } else if folder.first_recent_uid >= folder.uidnext {
        0..0
    } else {
        store
            .write(|tx| tx.folders().claim_recent(user, name, None))?
            .unwrap_or(0..0)
    };
    let metas = store.read(|tx| tx.mailboxes().messages(user, name))?;
    let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
    let recent: BTreeSet<u32> = uids
        .iter()
        .copied()
        .filter(|uid| recent_uids.contains(uid))
        .collect();
    let keywords = Announced::with(metas.iter().flat_map(|m| &m.flags));
    let mut out = keywords.responses(access == Access::ReadOnly);
    out.extend(described(context, &folder, &metas, recent.len(), access));
    let selection = Selection {
        folder: name.to_string(),
        read_only: access == Access::ReadOnly,
        uidvalidity: folder.uidvalidity,
        uids,
        recent,
        modseq: folder.highest_modseq,
        own: HashMap::new(),
        deferred: false,
        conserved: None,
        keywords,
    };
    Ok(Opened {
        out,
        selection: Some(selection),
    })
}

impl Session {
    /// SELECT or EXAMINE; a CONDSTORE parameter enables CONDSTORE (RFC 7162 §3.1).
    pub(super) fn select(
        &mut self,
        context: &Context<'_>,
        mailbox: &imap_codec::imap_types::mailbox::Mailbox<'_>,
        access: Access,
        parameters: &[SelectParameter],
    ) -> Result<Vec<Out>, Fault> {
        let resync = parameters
            .iter()
            .find(|p| matches!(p, SelectParameter::QResync { .. }));
        if resync.is_some() && self.common.condstore != CondStore::QResync {
            return Ok(vec![reply::bad(context.tag, "ENABLE QRESYNC first")]);
        }
        let mut out = Vec::new();
        let was_selected = matches!(self.state, State::Selected { .. });
        if was_selected {
            // A new SELECT first leaves the current folder (RFC 3501 §6.3.1; RFC 7162
            // §3.2.11 CLOSED).
            self.state = State::Authenticated {
                user: context.user.to_owned(),
            };
            out.push(reply::untagged_ok(
                Some(Code::Closed),
                "previous folder closed",
            ));
        }
        if !parameters.is_empty() && self.common.condstore == CondStore::Off {
            self.common.condstore = CondStore::On;
        }
        let opened = open(
            &self.common,
            context,
            &super::names::name_of(mailbox),
            access,
        )?;
        out.extend(opened.out);
        let Some(selection) = opened.selection else {
            return Ok(out);
        };
        let mut selection = Box::new(selection);
        if let Some(parameter) = resync {
            let tagged = out.pop();
            out.extend(super::qresync::on_select(
                context,
                &mut selection,
                parameter,
            )?);
            out.extend(tagged);
        }
        if was_selected {
            out = super::selected::InFolder {
                common: &mut self.common,
                selection: &mut selection,
                context,
            }
            .ride_along(out)?;
        }
        self.state = State::Selected {
            user: context.user.to_owned(),
            selection,
        };
        Ok(out)
    }
}

/// The untagged data and the tagged OK of a SELECT or EXAMINE (RFC 3501 §6.3.1).
fn described(
    context: &Context<'_>,
    folder: &Folder,
    metas: &[MessageMeta],
    recent: usize,
    access: Access,
) -> Vec<Out> {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let first_unseen = metas
        .iter()
        .position(|m| !Flags::of(&m.flags).has(crate::imap::flags::Flag::Seen));
    let mut out = vec![
        reply::data(Data::Exists(count(metas.len()))),
        reply::data(Data::Recent(count(recent))),
    ];
    if let Some(index) = first_unseen {
        out.push(reply::untagged_ok(
            Some(Code::Unseen(reply::nz(count(index + 1)))),
            "first unseen",
        ));
    }
    out.extend([
        reply::untagged_ok(
            Some(Code::UidValidity(reply::nz(folder.uidvalidity))),
            "UIDs valid",
        ),
        reply::untagged_ok(
            Some(Code::UidNext(reply::nz(folder.uidnext))),
            "predicted next UID",
        ),
        reply::untagged_ok(
            Some(Code::HighestModSeq(modseq_nz(folder.highest_modseq.max(1)))),
            "highest",
        ),
    ]);
    out.push(match access {
        Access::ReadOnly => reply::ok(context.tag, Some(Code::ReadOnly), "EXAMINE completed"),
        Access::ReadWrite => reply::ok(context.tag, Some(Code::ReadWrite), "SELECT completed"),
    });
    out
}

/// SELECT or EXAMINE of a conservation view folder: always read-only.
fn open_view(common: &Common, context: &Context<'_>, name: &str) -> Result<Opened, Fault> {
    let Some(entries) = common
        .hooks
        .conserved(context.store, context.user)?
        .remove(name)
    else {
        return Ok(Opened::nonexistent(context));
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
        reply::ok(
            context.tag,
            Some(Code::ReadOnly),
            "conserved messages, read-only",
        ),
    ];
    let selection = Selection {
        folder: name.to_string(),
        read_only: true,
        uidvalidity: conserved::UIDVALIDITY,
        uids: (1..=count).collect(),
        recent: BTreeSet::new(),
        modseq: 1,
        own: HashMap::new(),
        deferred: false,
        conserved: Some(entries),
        keywords: Announced::default(),
    };
    Ok(Opened {
        out,
        selection: Some(selection),
    })
}

fn system_flags() -> Vec<Flag<'static>> {
    vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ]
}
