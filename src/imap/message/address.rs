//! Address fields (RFC 5322 §3.4, with the obsolete forms of §4.4) read the way IMAP
//! needs them: ENVELOPE's address structures (RFC 3501 §7.4.2) and the text SEARCH
//! FROM / TO / CC / BCC match against.
//!
//! General-purpose parsers (mail-parser's included) decode and simplify: they drop
//! source routes and turn comments into names in their own way. ENVELOPE must tell a
//! group from its members and carry a route as its own field, so the field is read here
//! token by token, leniently, as Dovecot does: a display name stays as written (encoded
//! words included), a comment after a bare address is its name, whatever cannot be
//! read is stepped over. Pure, never panics, linear in the field's length: every
//! loop reads or skips at least one byte per turn.

/// One element of an address field, in order.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Item {
    /// A mailbox.
    Mailbox(Mailbox),
    /// `name:` opening a group.
    GroupStart(Vec<u8>),
    /// `;` closing a group.
    GroupEnd,
}

/// One mailbox of an address field.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Mailbox {
    /// The display name, or the comment naming a bare address.
    pub name: Option<Vec<u8>>,
    /// The obsolete source route (`@a,@b`), without its colon.
    pub route: Option<Vec<u8>>,
    /// The local part (empty when missing).
    pub local: Vec<u8>,
    /// The domain (empty when missing).
    pub domain: Vec<u8>,
}

/// The elements of an unfolded address field value.
pub fn parse(value: &[u8]) -> Vec<Item> {
    let mut reader = Reader {
        input: value,
        at: 0,
        comment: None,
    };
    let mut items = Vec::new();
    loop {
        reader.skip_cfws();
        match reader.peek() {
            None => break,
            Some(b',' | b';') => reader.at += 1,
            Some(_) => reader.element(&mut items, false),
        }
    }
    items
}

/// The field as SEARCH matches it: each mailbox as `name <local@domain>`, groups as
/// `name: …;`, comments and folding gone.
pub fn searchable(value: &[u8]) -> String {
    let mut out = Vec::new();
    for item in parse(value) {
        if !out.is_empty() && !out.ends_with(b": ") {
            out.extend_from_slice(b", ");
        }
        match item {
            Item::GroupStart(name) => {
                out.extend_from_slice(&name);
                out.extend_from_slice(b": ");
            }
            Item::GroupEnd => {
                if out.ends_with(b", ") {
                    out.truncate(out.len() - 2);
                }
                out.push(b';');
            }
            Item::Mailbox(mailbox) => {
                if let Some(name) = &mailbox.name {
                    out.extend_from_slice(name);
                    out.push(b' ');
                }
                out.push(b'<');
                if let Some(route) = &mailbox.route {
                    out.extend_from_slice(route);
                    out.push(b':');
                }
                out.extend_from_slice(&mailbox.local);
                out.push(b'@');
                out.extend_from_slice(&mailbox.domain);
                out.push(b'>');
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The white space between tokens: what [`Reader::skip_cfws`] steps over and an atom
/// ends at. One set for both, so that every byte is either skipped or read (a form
/// feed, white space to `u8::is_ascii_whitespace`, is read as part of an atom).
fn space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// Characters that end an atom (RFC 5322 §3.2.3 specials), besides white space.
fn special(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b':' | b';' | b'@' | b'\\' | b',' | b'"'
    )
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
    /// The last comment skipped since it was last taken.
    comment: Option<Vec<u8>>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    /// Skips white space and comments (nested, with quoted pairs), keeping the last
    /// comment's text.
    fn skip_cfws(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                byte if space(byte) => self.at += 1,
                b'(' => self.comment_text(),
                _ => break,
            }
        }
    }

    fn comment_text(&mut self) {
        let mut depth = 0usize;
        let mut text = Vec::new();
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'(' => {
                    depth += 1;
                    if depth > 1 {
                        text.push(byte);
                    }
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    text.push(byte);
                }
                b'\\' => {
                    if let Some(next) = self.peek() {
                        text.push(next);
                        self.at += 1;
                    }
                }
                _ => text.push(byte),
            }
        }
        let text = text.trim_ascii();
        if !text.is_empty() {
            self.comment = Some(text.to_vec());
        }
    }

    /// A quoted string's content, the opening quote being next.
    fn quoted(&mut self) -> Vec<u8> {
        let mut text = Vec::new();
        self.at += 1;
        while let Some(byte) = self.peek() {
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        text.push(next);
                        self.at += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => text.push(byte),
            }
        }
        text
    }

    fn atom(&mut self) -> Vec<u8> {
        let start = self.at;
        while let Some(byte) = self.peek() {
            if special(byte) || space(byte) {
                break;
            }
            self.at += 1;
        }
        self.input[start..self.at].to_vec()
    }

    /// Words and dots up to a special: a display name (words one space apart) or a
    /// local part (dots kept, no spaces added around them).
    fn phrase(&mut self) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        let mut after_dot = false;
        loop {
            let before = self.at;
            self.skip_cfws();
            let spaced = self.at > before;
            let word = match self.peek() {
                Some(b'"') => self.quoted(),
                Some(byte) if !special(byte) => self.atom(),
                _ => break,
            };
            // `first . last` (obsolete local part) joins; `John Q. Public` keeps its
            // spaces.
            let dot = word == b".";
            if spaced && !out.is_empty() && !dot && !after_dot {
                out.push(b' ');
            }
            after_dot = dot;
            out.extend_from_slice(&word);
        }
        out
    }

    /// A domain: dot-atoms or a domain literal, comments and spaces dropped.
    fn domain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            self.skip_cfws();
            match self.peek() {
                Some(b'[') => {
                    let start = self.at;
                    while let Some(byte) = self.peek() {
                        self.at += 1;
                        if byte == b']' {
                            break;
                        }
                    }
                    out.extend_from_slice(&self.input[start..self.at]);
                }
                Some(byte) if !special(byte) => out.extend(self.atom()),
                _ => break,
            }
        }
        out
    }

    /// A mailbox or a group (not inside a group: groups do not nest). Always consumes
    /// at least one byte.
    fn element(&mut self, items: &mut Vec<Item>, in_group: bool) {
        let start = self.at;
        self.comment = None;
        let phrase = self.phrase();
        self.skip_cfws();
        match self.peek() {
            Some(b':') if !in_group => {
                self.at += 1;
                items.push(Item::GroupStart(phrase));
                self.group_members(items);
                items.push(Item::GroupEnd);
            }
            Some(b'<') => {
                self.at += 1;
                let name = Some(phrase).filter(|name| !name.is_empty());
                items.push(Item::Mailbox(self.angle_addr(name)));
            }
            Some(b'@') => {
                self.at += 1;
                let domain = self.domain();
                self.skip_cfws();
                let name = self.comment.take();
                items.push(Item::Mailbox(Mailbox {
                    name,
                    route: None,
                    local: phrase,
                    domain,
                }));
            }
            _ if !phrase.is_empty() => {
                let name = self.comment.take();
                items.push(Item::Mailbox(Mailbox {
                    name,
                    route: None,
                    local: phrase,
                    domain: Vec::new(),
                }));
            }
            _ => {}
        }
        if self.at == start {
            // A stray special (`>`, `]`, `:` inside a group…): step over it.
            self.at += 1;
        }
    }

    fn group_members(&mut self, items: &mut Vec<Item>) {
        loop {
            self.skip_cfws();
            match self.peek() {
                None => return,
                Some(b';') => {
                    self.at += 1;
                    return;
                }
                Some(b',') => self.at += 1,
                Some(_) => self.element(items, true),
            }
        }
    }

    /// What follows `<`: `[@route,…:]local@domain>`.
    fn angle_addr(&mut self, name: Option<Vec<u8>>) -> Mailbox {
        let mut mailbox = Mailbox {
            name,
            ..Mailbox::default()
        };
        self.skip_cfws();
        if self.peek() == Some(b'@') {
            let mut route = Vec::new();
            while self.peek() == Some(b'@') {
                self.at += 1;
                if !route.is_empty() {
                    route.push(b',');
                }
                route.push(b'@');
                route.extend(self.domain());
                self.skip_cfws();
                while self.peek() == Some(b',') {
                    self.at += 1;
                    self.skip_cfws();
                }
            }
            if self.peek() == Some(b':') {
                self.at += 1;
            }
            mailbox.route = Some(route);
        }
        mailbox.local = self.phrase();
        self.skip_cfws();
        if self.peek() == Some(b'@') {
            self.at += 1;
            mailbox.domain = self.domain();
        }
        while let Some(byte) = self.peek() {
            self.at += 1;
            if byte == b'>' {
                break;
            }
        }
        mailbox
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(name: Option<&str>, route: Option<&str>, local: &str, domain: &str) -> Item {
        Item::Mailbox(Mailbox {
            name: name.map(|n| n.as_bytes().to_vec()),
            route: route.map(|r| r.as_bytes().to_vec()),
            local: local.as_bytes().to_vec(),
            domain: domain.as_bytes().to_vec(),
        })
    }

    #[test]
    fn names_comments_and_routes() {
        assert_eq!(
            parse(b"From Real <fromuser@fromdomain.org>"),
            [mailbox(
                Some("From Real"),
                None,
                "fromuser",
                "fromdomain.org"
            )]
        );
        assert_eq!(
            parse(b"user@domain (Real Name)"),
            [mailbox(Some("Real Name"), None, "user", "domain")]
        );
        assert_eq!(
            parse(b"<@route:user@domain>"),
            [mailbox(None, Some("@route"), "user", "domain")]
        );
        assert_eq!(
            parse(b"<@a.test, @b.test:user@domain>"),
            [mailbox(None, Some("@a.test,@b.test"), "user", "domain")]
        );
        assert_eq!(
            parse(b"<user-from (comment)@ (comment) domain.org>"),
            [mailbox(None, None, "user-from", "domain.org")]
        );
        assert_eq!(
            parse(b"\"Rossi, Mario\" <m.rossi@pec.test>, John Q. Public <jqp@x.test>"),
            [
                mailbox(Some("Rossi, Mario"), None, "m.rossi", "pec.test"),
                mailbox(Some("John Q. Public"), None, "jqp", "x.test"),
            ]
        );
        assert_eq!(
            parse(b"undisclosed"),
            [mailbox(None, None, "undisclosed", "")]
        );
    }

    #[test]
    fn groups_open_and_close() {
        assert_eq!(
            parse(b"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;"),
            [
                Item::GroupStart(b"group".to_vec()),
                mailbox(None, None, "g1", "d1.org"),
                mailbox(None, None, "g2", "d2.org"),
                Item::GroupEnd,
                Item::GroupStart(b"group2".to_vec()),
                mailbox(None, None, "g3", "d3.org"),
                Item::GroupEnd,
            ]
        );
        assert_eq!(
            parse(b"group:;, group2: (foo) ;"),
            [
                Item::GroupStart(b"group".to_vec()),
                Item::GroupEnd,
                Item::GroupStart(b"group2".to_vec()),
                Item::GroupEnd,
            ]
        );
    }

    #[test]
    fn search_text_has_no_comments() {
        assert_eq!(
            searchable(b"<user-from (comment)@ (comment) domain.org>"),
            "<user-from@domain.org>"
        );
        assert_eq!(
            searchable(b"groupname: a@x.test, b@y.test;, RealTo <t@z.test>"),
            "groupname: <a@x.test>, <b@y.test>;, RealTo <t@z.test>"
        );
    }

    #[test]
    fn garbage_ends_without_panicking() {
        for input in [
            &b"<<<@@@>>>,,,;;;:"[..],
            b"(((unclosed",
            b"\"unterminated",
            b"a:b:c:d;;",
            b"<@",
            b"[",
            b"\\",
            b"@@@",
        ] {
            let _ = parse(input);
            let _ = searchable(input);
        }
    }

    #[test]
    fn a_form_feed_is_read_and_the_parse_ends() {
        // A form feed ended atoms without being skipped as space, so the domain and
        // phrase loops read empty atoms at it for ever (found by the imap_message fuzz
        // target; the whole input is in its corpus).
        assert_eq!(
            parse(b"a@example.c\r0\x0c"),
            [mailbox(None, None, "a", "example.c0\x0c")]
        );
        assert_eq!(
            parse(b"Name\x0c <a@b.test>"),
            [mailbox(Some("Name\x0c"), None, "a", "b.test")]
        );
        for input in [&b"\x0c"[..], b"\x0c@\x0c", b"<\x0c@\x0c>", b"g\x0c:\x0c;"] {
            let _ = parse(input);
            let _ = searchable(input);
        }
    }
}
