//! The NOTIFY command (RFC 5465) and what a session reports while no command runs:
//! the selected folder's new messages (with the fetch attributes MessageNew asked
//! for), expunges and flag changes as EXISTS / EXPUNGE / FETCH (§5.2–5.4), and through
//! a [`Watch`] the other folders' changes. The shell calls [`Session::notifications`]
//! whenever the store commits, between commands; IDLE and NOOP report the same
//! through [`Session::poll`].

mod watch;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::sequence::SequenceSet;
use jiff::Timestamp;

use crate::imap::extended::Extended;
use crate::imap::extended::notify::Notify;
use crate::imap::extended::notify::NotifySet;
use crate::imap::extended::notify::Refusal;
use crate::imap::reply;
use crate::imap::reply::Out;
use crate::imap::session::Context;
use crate::imap::session::Expunges;
use crate::imap::session::Fault;
use crate::imap::session::Session;
use crate::imap::session::State;
use crate::imap::session::selected::InFolder;
use crate::store::Store;

pub(super) use watch::Watch;

impl Session {
    /// NOTIFY SET or NOTIFY NONE.
    pub(super) fn notify(
        &mut self,
        context: &Context<'_>,
        request: &Result<Notify, Refusal>,
    ) -> Result<Vec<Out>, Fault> {
        let tag = context.tag;
        let set = match request {
            Err(refusal) => {
                let line = format!("{} {}\r\n", tag.inner(), refusal.response());
                return Ok(vec![Out::Raw(line.into_bytes())]);
            }
            Ok(Notify::None) => {
                self.common.watch = None;
                return Ok(vec![reply::ok(tag, None, "NOTIFY completed")]);
            }
            Ok(Notify::Set(set)) => set,
        };
        if let Some(text) = &set.selected.fetch
            && fetch_names(text).is_none()
        {
            return Ok(vec![reply::bad(
                tag,
                "NOTIFY: MessageNew's fetch attributes are not valid",
            )]);
        }
        let selected = match &self.state {
            State::Selected { selection, .. } => Some(selection.folder.as_str()),
            _ => None,
        };
        let (watch, mut out) = Watch::start(set.clone(), context.store, context.user, selected)?;
        self.common.watch = Some(Box::new(watch));
        out.push(reply::ok(tag, None, "NOTIFY completed"));
        Ok(out)
    }

    /// Whether NOTIFY is on: the shell then reports changes between commands.
    pub fn notifying(&self) -> bool {
        self.common.watch.is_some()
    }

    /// What NOTIFY reports now, between commands, at `now`: the selected folder's
    /// changes when `selected` events were asked for (expunges held back for
    /// `selected-delayed`), then the other folders'. A `* BYE` instead when the login
    /// no longer stands, as [`Session::poll`].
    pub fn notifications(&mut self, store: &Store, now: Timestamp) -> Result<Vec<Out>, Fault> {
        if let Some(bye) = self.end_if_revoked(store) {
            return Ok(vec![bye]);
        }
        let Some(set) = self.common.watch.as_ref().map(|w| &w.set) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if !set.selected.events.is_empty() {
            let expunges = if set.selected.delayed {
                Expunges::Hold
            } else {
                Expunges::Report
            };
            out = self.sync_selected(store, expunges, now)?;
        }
        out.extend(self.watched(store)?);
        Ok(out)
    }

    /// Brings the selected folder's view up to date and says what changed; with
    /// NOTIFY's `MessageNew (fetch-att …)`, a FETCH of the new messages follows.
    pub(super) fn sync_selected(
        &mut self,
        store: &Store,
        expunges: Expunges,
        now: Timestamp,
    ) -> Result<Vec<Out>, Fault> {
        let State::Selected { user, selection } = &mut self.state else {
            return Ok(Vec::new());
        };
        let known = selection.max_uid();
        let mut out = selection.sync(store, user, expunges, self.common.condstore)?;
        let names = self
            .common
            .watch
            .as_ref()
            .and_then(|watch| watch_fetch(&watch.set));
        let arrived = selection.max_uid() > known;
        if let (Some(names), true) = (names, arrived)
            && let Ok(set) = SequenceSet::try_from(format!("{}:*", known + 1).as_str())
        {
            let (tag, extended) = (notify_tag(), Extended::default());
            let context = Context {
                store,
                user,
                tag: &tag,
                now,
                extended: &extended,
            };
            let mut folder = InFolder {
                common: &mut self.common,
                selection,
                context: &context,
            };
            out.extend(folder.fetch_peeking(&set, &names)?);
        }
        Ok(out)
    }

    /// The changes of the folders NOTIFY watches besides the selected one.
    pub(super) fn watched(&mut self, store: &Store) -> Result<Vec<Out>, Fault> {
        let (user, selected) = match &self.state {
            State::Selected { user, selection } => (user, Some(selection.folder.as_str())),
            State::Authenticated { user } => (user, None),
            State::NotAuthenticated | State::Logout => return Ok(Vec::new()),
        };
        let condstore = self.common.condstore.is_on();
        match self.common.watch.as_mut() {
            Some(watch) => watch.changes(store, user, selected, condstore),
            None => Ok(Vec::new()),
        }
    }
}

/// The fetch attributes of the selected folder's MessageNew, when asked for.
fn watch_fetch(set: &NotifySet) -> Option<MacroOrMessageDataItemNames<'static>> {
    if set.selected.events.is_empty() {
        return None;
    }
    fetch_names(set.selected.fetch.as_deref()?)
}

/// Fetch attributes as the codec reads them in a FETCH command; `None` when they are
/// not valid there.
fn fetch_names(text: &str) -> Option<MacroOrMessageDataItemNames<'static>> {
    let line = format!("n FETCH 1 ({text})\r\n");
    match CommandCodec::default().decode(line.as_bytes()) {
        Ok((
            &[],
            command @ imap_codec::imap_types::command::Command {
                body: CommandBody::Fetch { .. },
                ..
            },
        )) => match command.body.into_static() {
            CommandBody::Fetch {
                macro_or_item_names,
                ..
            } => Some(macro_or_item_names),
            _ => None,
        },
        _ => None,
    }
}

/// The tag of the commandless FETCH that MessageNew's attributes make; FETCH never
/// writes it.
fn notify_tag() -> Tag<'static> {
    Tag::try_from("notify").unwrap_or_else(|_| Tag::unvalidated("notify"))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn fetch_attributes_are_read_by_the_codec() {
        assert!(fetch_names("uid body.peek[header.fields (from to subject)]").is_some());
        assert!(fetch_names("FLAGS").is_some());
        assert!(fetch_names("uid nonsense").is_none());
        assert!(fetch_names("uid) (flags").is_none());
    }
}
