//! The NOTIFY command (RFC 5465 §8), which imap-codec does not parse: read here from
//! the framed command (mailbox names may be literals inside it) into what the session
//! watches. Pure: bytes in, values out.
//!
//! ```text
//! notify          = "NOTIFY" SP ("SET" [SP "STATUS"] 1*(SP event-group) / "NONE")
//! event-group     = "(" filter-mailboxes SP events ")"
//! filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal"
//!                 / "subscribed" / ("subtree" / "mailboxes") SP one-or-more-mailbox
//! one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
//! events          = "(" event *(SP event) ")" / "NONE"
//! event           = "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] / atom
//! ```

use super::reader::Reader;
use crate::imap::session::folder_limits::MAX_FOLDER_NAME_CHARS;
use crate::store::mailbox::INBOX;

/// The most mailbox names one NOTIFY may list: each is matched against every change,
/// so a client may not make that work unbounded (`NO [NOTIFICATIONOVERFLOW]` beyond).
pub const MAX_NAMES: usize = 100;

/// The most event groups one NOTIFY may hold, for the same reason: there are only
/// seven kinds of filter, so more groups only make work.
pub const MAX_GROUPS: usize = 32;

/// A set of event types (RFC 5465 §5).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Events(u8);

impl Events {
    /// A message arrived (§5.2).
    pub const MESSAGE_NEW: Events = Events(1);
    /// A message was expunged (§5.3).
    pub const MESSAGE_EXPUNGE: Events = Events(2);
    /// A message's flags changed (§5.4).
    pub const FLAG_CHANGE: Events = Events(4);
    /// A mailbox was created, deleted or renamed (§5.5).
    pub const MAILBOX_NAME: Events = Events(8);
    /// A mailbox was subscribed or unsubscribed (§5.6).
    pub const SUBSCRIPTION_CHANGE: Events = Events(16);
    /// The events about messages, which STATUS reports for a mailbox not selected.
    pub const MESSAGES: Events = Events(1 | 2 | 4);

    /// Whether any event of `other` is in the set.
    pub fn any(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no event is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn add(&mut self, other: Events) {
        self.0 |= other.0;
    }
}

impl std::ops::BitOr for Events {
    type Output = Events;

    fn bitor(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }
}

/// The events this server reports, by their names, as `BADEVENT` lists them.
const SUPPORTED: [(&str, Events); 5] = [
    ("MessageNew", Events::MESSAGE_NEW),
    ("MessageExpunge", Events::MESSAGE_EXPUNGE),
    ("FlagChange", Events::FLAG_CHANGE),
    ("MailboxName", Events::MAILBOX_NAME),
    ("SubscriptionChange", Events::SUBSCRIPTION_CHANGE),
];

/// Which mailboxes an event group is about (RFC 5465 §6).
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Filter {
    /// The mailboxes mail is delivered to: INBOX here.
    Inboxes,
    /// Every mailbox of the user.
    Personal,
    /// The subscribed mailboxes.
    Subscribed,
    /// These mailboxes and every one below them.
    Subtree(Vec<String>),
    /// These mailboxes.
    Mailboxes(Vec<String>),
}

/// One `(filter events)` group for mailboxes other than the selected one.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct EventGroup {
    /// The mailboxes.
    pub filter: Filter,
    /// What to report about them.
    pub events: Events,
}

/// What is reported about the selected mailbox while no command runs.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct SelectedEvents {
    /// The events.
    pub events: Events,
    /// `selected-delayed`: expunges wait for a command that may report them.
    pub delayed: bool,
    /// MessageNew's fetch attributes as sent (`uid body.peek[…]`), checked by the
    /// codec when the command is taken.
    pub fetch: Option<String>,
}

/// A NOTIFY SET.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct NotifySet {
    /// `STATUS`: send the watched mailboxes' STATUS before the OK (§3.1).
    pub status: bool,
    /// The `selected` or `selected-delayed` group.
    pub selected: SelectedEvents,
    /// The other groups, in order.
    pub groups: Vec<EventGroup>,
}

/// A NOTIFY command.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Notify {
    /// `NOTIFY NONE`: no more notifications.
    None,
    /// `NOTIFY SET …`.
    Set(NotifySet),
}

/// Why a NOTIFY is refused.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Refusal {
    /// Syntax (BAD).
    Bad(&'static str),
    /// An event this server does not report (`NO [BADEVENT (…)]`, §3.1).
    BadEvent,
    /// More names than [`MAX_NAMES`] or groups than [`MAX_GROUPS`]
    /// (`NO [NOTIFICATIONOVERFLOW]`).
    Overflow,
}

impl Refusal {
    /// The tagged response's text after the tag.
    pub fn response(&self) -> String {
        match self {
            Refusal::Bad(why) => format!("BAD {why}"),
            Refusal::BadEvent => {
                let names: Vec<&str> = SUPPORTED.iter().map(|(name, _)| *name).collect();
                format!("NO [BADEVENT ({})] event not supported", names.join(" "))
            }
            Refusal::Overflow => {
                "NO [NOTIFICATIONOVERFLOW] too many mailbox names or event groups".to_string()
            }
        }
    }
}

/// The NOTIFY whose arguments start at `args_at` of `message`.
pub fn parse(message: &[u8], args_at: usize) -> Result<Notify, Refusal> {
    let mut reader = Reader::new(message, args_at);
    let notify = if reader.eat(b"NONE") {
        Notify::None
    } else if reader.eat(b"SET ") {
        Notify::Set(set(&mut reader)?)
    } else {
        return Err(Refusal::Bad("NOTIFY takes SET or NONE"));
    };
    if reader.rest() != b"\r\n" {
        return Err(Refusal::Bad("NOTIFY: unexpected text after the arguments"));
    }
    Ok(notify)
}

fn set(reader: &mut Reader<'_>) -> Result<NotifySet, Refusal> {
    let mut set = NotifySet {
        status: reader.eat(b"STATUS "),
        ..NotifySet::default()
    };
    let mut selected_given = false;
    let mut names = 0usize;
    loop {
        if !reader.eat(b"(") {
            return Err(Refusal::Bad("NOTIFY: event group expected"));
        }
        let filter = lower_atom(reader).ok_or(Refusal::Bad("NOTIFY: filter expected"))?;
        if !reader.space() {
            return Err(Refusal::Bad("NOTIFY: events expected"));
        }
        if filter == "selected" || filter == "selected-delayed" {
            if selected_given {
                return Err(Refusal::Bad("NOTIFY: selected given twice"));
            }
            selected_given = true;
            set.selected = selected(reader, filter == "selected-delayed")?;
        } else {
            let filter = other_filter(reader, &filter)?;
            if let Filter::Subtree(list) | Filter::Mailboxes(list) = &filter {
                names += list.len();
            }
            let (events, _) = events(reader, false)?;
            set.groups.push(EventGroup { filter, events });
            if set.groups.len() > MAX_GROUPS {
                return Err(Refusal::Overflow);
            }
        }
        if !reader.eat(b")") {
            return Err(Refusal::Bad("NOTIFY: ) expected after the events"));
        }
        if !reader.space() {
            break;
        }
    }
    if names > MAX_NAMES {
        return Err(Refusal::Overflow);
    }
    Ok(set)
}

/// The selected mailbox's events, with the rules of RFC 5465 §5: MessageNew and
/// MessageExpunge together or not at all, FlagChange only with them.
fn selected(reader: &mut Reader<'_>, delayed: bool) -> Result<SelectedEvents, Refusal> {
    let (events, fetch) = events(reader, true)?;
    let counts = Events::MESSAGE_NEW.0 | Events::MESSAGE_EXPUNGE.0;
    if events.0 & counts != 0 && events.0 & counts != counts {
        return Err(Refusal::Bad(
            "NOTIFY: MessageNew and MessageExpunge go together",
        ));
    }
    if events.any(Events::FLAG_CHANGE) && !events.any(Events::MESSAGE_EXPUNGE) {
        return Err(Refusal::Bad(
            "NOTIFY: FlagChange needs MessageNew and MessageExpunge",
        ));
    }
    Ok(SelectedEvents {
        events,
        delayed,
        fetch,
    })
}

fn other_filter(reader: &mut Reader<'_>, filter: &str) -> Result<Filter, Refusal> {
    Ok(match filter {
        "inboxes" => Filter::Inboxes,
        "personal" => Filter::Personal,
        "subscribed" => Filter::Subscribed,
        "subtree" => Filter::Subtree(mailboxes(reader)?),
        "mailboxes" => Filter::Mailboxes(mailboxes(reader)?),
        _ => return Err(Refusal::Bad("NOTIFY: unknown mailbox filter")),
    })
}

/// `mailbox` or `(mailbox …)`, then the space before the events.
fn mailboxes(reader: &mut Reader<'_>) -> Result<Vec<String>, Refusal> {
    let bad = Refusal::Bad("NOTIFY: mailbox name expected");
    let mut names = Vec::new();
    if reader.eat(b"(") {
        loop {
            names.push(mailbox(reader).ok_or(bad.clone())?);
            if reader.eat(b")") {
                break;
            }
            if !reader.space() || names.len() > MAX_NAMES {
                return Err(if names.len() > MAX_NAMES {
                    Refusal::Overflow
                } else {
                    bad
                });
            }
        }
    } else {
        names.push(mailbox(reader).ok_or(bad.clone())?);
    }
    if !reader.space() {
        return Err(bad);
    }
    Ok(names)
}

/// A mailbox name, INBOX case-folded (RFC 3501 §5.1); `None` for one longer than any
/// folder's, which the watch would otherwise keep for the session's life (a literal
/// may be as large as an APPEND).
fn mailbox(reader: &mut Reader<'_>) -> Option<String> {
    let name = String::from_utf8(reader.astring()?).ok()?;
    if name.chars().count() > MAX_FOLDER_NAME_CHARS {
        return None;
    }
    Some(if name.eq_ignore_ascii_case(INBOX) {
        INBOX.to_string()
    } else {
        name
    })
}

/// `NONE` or `(event …)`; MessageNew's fetch attributes when `selected` allows them.
fn events(reader: &mut Reader<'_>, selected: bool) -> Result<(Events, Option<String>), Refusal> {
    if reader.eat(b"NONE") {
        return Ok((Events::default(), None));
    }
    if !reader.eat(b"(") {
        return Err(Refusal::Bad("NOTIFY: ( or NONE expected"));
    }
    let mut events = Events::default();
    let mut fetch = None;
    let mut unsupported = false;
    loop {
        let name = lower_atom(reader).ok_or(Refusal::Bad("NOTIFY: event name expected"))?;
        match SUPPORTED
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(&name))
        {
            Some((_, event)) => events.add(*event),
            None => unsupported = true,
        }
        if reader.eat(b" (") {
            if !(selected && name == "messagenew") {
                return Err(Refusal::Bad("NOTIFY: fetch attributes only for MessageNew"));
            }
            fetch = Some(fetch_attributes(reader)?);
        }
        if reader.eat(b")") {
            break;
        }
        if !reader.space() {
            return Err(Refusal::Bad("NOTIFY: ) expected after the events"));
        }
    }
    if unsupported {
        return Err(Refusal::BadEvent);
    }
    Ok((events, fetch))
}

/// The inside of MessageNew's `( … )`, the opening parenthesis already read: kept as
/// text for the codec, up to the matching close (brackets and quotes respected).
fn fetch_attributes(reader: &mut Reader<'_>) -> Result<String, Refusal> {
    let rest = reader.rest();
    let mut depth = 1usize;
    let mut quoted = false;
    for (i, byte) in rest.iter().enumerate() {
        match byte {
            b'\r' | b'\n' | b'{' => break,
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    let text = String::from_utf8(rest[..i].to_vec())
                        .map_err(|_| Refusal::Bad("NOTIFY: fetch attributes not UTF-8"))?;
                    reader.advance(i + 1);
                    return Ok(text);
                }
            }
            _ => {}
        }
    }
    Err(Refusal::Bad("NOTIFY: unclosed fetch attributes"))
}

fn lower_atom(reader: &mut Reader<'_>) -> Option<String> {
    let atom = reader.atom()?;
    Some(String::from_utf8(atom).ok()?.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(args: &str) -> Result<Notify, Refusal> {
        let line = format!("a NOTIFY {args}\r\n");
        parse(line.as_bytes(), "a NOTIFY ".len())
    }

    #[test]
    fn the_rfc_example_with_fetch_attributes() {
        let Ok(Notify::Set(set)) = notify(
            "SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) \
             MessageExpunge)) (subtree Lists (MessageNew)) (mailboxes (misc {4+}\r\nm  x) \
             (MessageNew))",
        ) else {
            panic!("not parsed");
        };
        assert!(set.status);
        assert_eq!(
            set.selected.fetch.as_deref(),
            Some("uid body.peek[header.fields (from to subject)]")
        );
        assert!(!set.selected.delayed);
        assert!(set.selected.events.any(Events::MESSAGE_EXPUNGE));
        assert_eq!(set.groups[0].filter, Filter::Subtree(vec!["Lists".into()]));
        assert_eq!(
            set.groups[1].filter,
            Filter::Mailboxes(vec!["misc".into(), "m  x".into()])
        );
        assert_eq!(set.groups[1].events, Events::MESSAGE_NEW);
    }

    #[test]
    fn none_inbox_case_and_delayed() {
        assert_eq!(notify("NONE"), Ok(Notify::None));
        let Ok(Notify::Set(set)) = notify(
            "set (selected-delayed (MessageNew MessageExpunge FlagChange)) \
             (mailboxes inbox (MailboxName SubscriptionChange)) (personal NONE)",
        ) else {
            panic!("not parsed");
        };
        assert!(set.selected.delayed);
        assert_eq!(
            set.groups[0].filter,
            Filter::Mailboxes(vec!["INBOX".into()])
        );
        assert!(set.groups[1].events.is_empty());
    }

    #[test]
    fn refusals() {
        for (args, refusal) in [
            ("SET (selected (MessageNew))", "BAD"),
            ("SET (selected (FlagChange))", "BAD"),
            ("SET (personal (AnnotationChange))", "NO [BADEVENT"),
            ("SET (personal (Nonsense))", "NO [BADEVENT"),
            ("SET (elsewhere (MessageNew))", "BAD"),
            ("SET (personal (MessageNew)", "BAD"),
            ("SET (personal ())", "BAD"),
            ("SET (personal (MessageNew (uid)))", "BAD"),
            ("SET (selected NONE) (selected NONE)", "BAD"),
            ("SET", "BAD"),
            ("SET (subtree (MessageNew))", "BAD"),
            ("SET (mailboxes {99}\r\nx (MessageNew))", "BAD"),
            ("SET (selected (MessageNew (uid MessageExpunge))", "BAD"),
            ("SOMETIMES", "BAD"),
        ] {
            let got = notify(args).expect_err(args).response();
            assert!(got.starts_with(refusal), "{args}: {got}");
        }
    }

    #[test]
    fn too_many_names_overflow() {
        let many: Vec<String> = (0..=MAX_NAMES).map(|n| format!("f{n}")).collect();
        let args = format!("SET (mailboxes ({}) (MessageNew))", many.join(" "));
        assert_eq!(notify(&args), Err(Refusal::Overflow));
        let half: Vec<String> = (0..60).map(|n| format!("f{n}")).collect();
        let args = format!(
            "SET (mailboxes ({0}) (MessageNew)) (subtree ({0}) (MessageNew))",
            half.join(" ")
        );
        assert_eq!(notify(&args), Err(Refusal::Overflow));
        let groups = vec!["(personal NONE)"; MAX_GROUPS + 1].join(" ");
        assert_eq!(notify(&format!("SET {groups}")), Err(Refusal::Overflow));
    }
}
