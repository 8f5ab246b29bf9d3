//! Reading `daticert.xml` as real providers send it, and rejecting what the DTD forbids.
//!
//! Accepted quirks, seen in real providers' messages: an optional XML declaration and DOCTYPE, a UTF-8 BOM,
//! CRLF line ends, CDATA sections, character and predefined entity references, extra
//! whitespace around values, and element/attribute names or enumerated values in any
//! letter case. Everything else the DTD does not allow (unknown or misplaced elements,
//! missing required ones, bad enumerated values, text where elements belong) is a
//! [`DaticertError`] naming the element at fault.

use quick_xml::Reader;
use quick_xml::events::BytesStart;
use quick_xml::events::Event;

use super::Dati;
use super::Daticert;
use super::Intestazione;
use super::Recipient;
use crate::pec::kind::DaticertKind;
use crate::pec::kind::ErrorCode;
use crate::pec::kind::ReceiptType;
use crate::pec::kind::RecipientType;
use crate::pec::time::LocalTime;
use crate::pec::time::TimeError;

/// The largest daticert.xml accepted; real ones are under 2 KiB.
pub const MAX_DATICERT_BYTES: usize = 1024 * 1024;
/// The deepest nesting accepted (the DTD needs 4).
const MAX_DEPTH: usize = 8;

/// Why a daticert.xml was rejected.
#[derive(Clone, Debug, thiserror::Error, Eq, PartialEq)]
pub enum DaticertError {
    /// Larger than [`MAX_DATICERT_BYTES`].
    #[error("daticert.xml of {0} bytes is too large")]
    TooLarge(usize),
    /// Not UTF-8 (the rules fix the encoding).
    #[error("daticert.xml is not UTF-8")]
    NotUtf8,
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// No root element, or one other than `postacert`.
    #[error("root element is {0:?}, expected postacert")]
    Root(String),
    /// Nesting deeper than any valid document.
    #[error("elements nested too deeply")]
    TooDeep,
    /// Content after the root element.
    #[error("content after </postacert>")]
    TrailingContent,
    /// An entity other than the predefined ones or a character reference.
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    /// A required element is missing.
    #[error("<{parent}> lacks <{element}>")]
    Missing {
        /// The containing element.
        parent: &'static str,
        /// The missing element.
        element: &'static str,
    },
    /// An element the DTD does not allow here (unknown, repeated or out of order).
    #[error("<{parent}> does not allow <{found}> here")]
    Unexpected {
        /// The containing element.
        parent: &'static str,
        /// The element found.
        found: String,
    },
    /// Text inside an element that holds only elements.
    #[error("<{0}> holds text where only elements are allowed")]
    TextNotAllowed(&'static str),
    /// A required attribute is missing.
    #[error("<{element}> lacks the {attribute} attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute the DTD does not declare.
    #[error("<{element}> has the undeclared attribute {attribute}")]
    UnknownAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: String,
    },
    /// An enumerated attribute with a value outside its list.
    #[error("<{element} {attribute}={value:?}> is not an allowed value")]
    InvalidValue {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value found.
        value: String,
    },
    /// `giorno`, `ora` or `zona` unreadable.
    #[error(transparent)]
    Time(#[from] TimeError),
}

/// A parsed element: lower-cased name, attributes, text, children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Daticert {
    /// Parses a daticert.xml document.
    pub fn parse(xml: &[u8]) -> Result<Daticert, DaticertError> {
        if xml.len() > MAX_DATICERT_BYTES {
            return Err(DaticertError::TooLarge(xml.len()));
        }
        let xml = xml.strip_prefix(b"\xef\xbb\xbf").unwrap_or(xml);
        let text = std::str::from_utf8(xml).map_err(|_| DaticertError::NotUtf8)?;
        let root = tree(text)?;
        if root.name != "postacert" {
            return Err(DaticertError::Root(root.name));
        }
        postacert(&root)
    }
}

/// The write → parse round trip the fuzz target checks: whatever parses must survive its
/// own serialization unchanged.
#[doc(hidden)]
#[allow(clippy::panic)]
pub fn fuzz_round_trip(data: &[u8]) {
    let Ok(first) = Daticert::parse(data) else {
        return;
    };
    let xml = first.to_xml();
    match Daticert::parse(xml.as_bytes()) {
        Ok(again) if again == first => {}
        other => panic!("round trip changed the document: {first:?} → {xml} → {other:?}"),
    }
}

/// Builds the element tree with quick-xml, resolving references and CDATA.
fn tree(text: &str) -> Result<Node, DaticertError> {
    let mut reader = Reader::from_str(text);
    // End names are matched below, case-insensitively (providers mix `<Mittente>` and
    // `</mittente>`), instead of by quick-xml's exact comparison.
    reader.config_mut().check_end_names = false;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| DaticertError::Xml(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(DaticertError::TrailingContent);
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(DaticertError::TooDeep);
                }
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                let node = open(&start)?;
                close(node, &mut stack, &mut root);
            }
            Event::End(end) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| DaticertError::Xml("unbalanced end tag".into()))?;
                let name = end.name().as_ref().to_ascii_lowercase();
                if name != node.name {
                    return Err(DaticertError::Xml(format!(
                        "</{name}> closes <{}>",
                        node.name
                    )));
                }
                close(node, &mut stack, &mut root);
            }
            Event::Text(t) => push_text(
                &mut stack,
                &root,
                &t.xml_content(quick_xml::XmlVersion::Implicit1_0),
            )?,
            Event::CData(c) => {
                let content = c
                    .xml_content(quick_xml::XmlVersion::Implicit1_0)
                    .into_owned();
                push_text(&mut stack, &root, &content)?;
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(DaticertError::UnknownEntity(r.to_string())),
                    }
                } else {
                    match &*r.xml_content(quick_xml::XmlVersion::Implicit1_0) {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => return Err(DaticertError::UnknownEntity(other.to_string())),
                    }
                };
                push_text(&mut stack, &root, &resolved)?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(DaticertError::Xml(
            "unclosed element at end of document".into(),
        ));
    }
    root.ok_or_else(|| DaticertError::Root(String::new()))
}

fn open(start: &BytesStart<'_>) -> Result<Node, DaticertError> {
    let name = start.name().as_ref().to_ascii_lowercase();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| DaticertError::Xml(e.to_string()))?;
        let key = attribute.key.as_ref().to_ascii_lowercase();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| DaticertError::Xml(e.to_string()))?;
        attributes.push((key, value.trim().to_string()));
    }
    Ok(Node {
        name,
        attributes,
        ..Node::default()
    })
}

fn close(node: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn push_text(stack: &mut [Node], root: &Option<Node>, text: &str) -> Result<(), DaticertError> {
    if let Some(bad) = text.chars().find(|&c| !super::is_xml_char(c)) {
        return Err(DaticertError::Xml(format!(
            "character U+{:04X} is not allowed in XML",
            bad as u32
        )));
    }
    match stack.last_mut() {
        Some(node) => node.text.push_str(text),
        None if text.trim().is_empty() => {}
        None if root.is_some() => return Err(DaticertError::TrailingContent),
        None => return Err(DaticertError::Xml("text outside the root element".into())),
    }
    Ok(())
}

/// `(intestazione, dati)` with `tipo` (required) and `errore` (default `nessuno`).
fn postacert(root: &Node) -> Result<Daticert, DaticertError> {
    allow_attributes(root, "postacert", &["tipo", "errore"])?;
    let tipo = required_attribute(root, "postacert", "tipo")?;
    let kind = DaticertKind::parse(tipo).ok_or_else(|| invalid("postacert", "tipo", tipo))?;
    let error = match attribute(root, "errore") {
        Some(value) => {
            ErrorCode::parse(value).ok_or_else(|| invalid("postacert", "errore", value))?
        }
        None => ErrorCode::None,
    };
    no_text(root, "postacert")?;
    let mut children = Children::new(root, "postacert");
    let header = intestazione(children.one("intestazione")?)?;
    let data = dati(children.one("dati")?)?;
    children.end()?;
    Ok(Daticert {
        kind,
        error,
        header,
        data,
    })
}

/// `(mittente, destinatari+, risposte, oggetto?)`.
fn intestazione(node: &Node) -> Result<Intestazione, DaticertError> {
    allow_attributes(node, "intestazione", &[])?;
    no_text(node, "intestazione")?;
    let mut children = Children::new(node, "intestazione");
    let sender = leaf(children.one("mittente")?, "mittente")?;
    let mut recipients = Vec::new();
    for element in children.many("destinatari", 1)? {
        allow_attributes(element, "destinatari", &["tipo"])?;
        let kind = match attribute(element, "tipo") {
            Some(value) => {
                RecipientType::parse(value).ok_or_else(|| invalid("destinatari", "tipo", value))?
            }
            None => RecipientType::Certified,
        };
        recipients.push(Recipient {
            address: text_of(element, "destinatari")?,
            kind,
        });
    }
    let reply_to = leaf(children.one("risposte")?, "risposte")?;
    let subject = children
        .optional("oggetto")
        .map(|n| leaf(n, "oggetto"))
        .transpose()?;
    children.end()?;
    Ok(Intestazione {
        sender,
        recipients,
        reply_to,
        subject,
    })
}

/// `(gestore-emittente, data, identificativo, msgid?, ricevuta?, consegna?, ricezione*,
/// errore-esteso?)`.
fn dati(node: &Node) -> Result<Dati, DaticertError> {
    allow_attributes(node, "dati", &[])?;
    no_text(node, "dati")?;
    let mut children = Children::new(node, "dati");
    let issuer = leaf(children.one("gestore-emittente")?, "gestore-emittente")?;
    let time = data(children.one("data")?)?;
    let id = leaf(children.one("identificativo")?, "identificativo")?;
    let msgid = children
        .optional("msgid")
        .map(|n| leaf(n, "msgid"))
        .transpose()?;
    let receipt_type = match children.optional("ricevuta") {
        Some(element) => {
            allow_attributes(element, "ricevuta", &["tipo"])?;
            if !element.children.is_empty() || !element.text.trim().is_empty() {
                return Err(DaticertError::TextNotAllowed("ricevuta"));
            }
            let value = required_attribute(element, "ricevuta", "tipo")?;
            Some(ReceiptType::parse(value).ok_or_else(|| invalid("ricevuta", "tipo", value))?)
        }
        None => None,
    };
    let delivery = children
        .optional("consegna")
        .map(|n| leaf(n, "consegna"))
        .transpose()?;
    let receptions = children
        .many("ricezione", 0)?
        .into_iter()
        .map(|n| leaf(n, "ricezione"))
        .collect::<Result<_, _>>()?;
    let extended_error = children
        .optional("errore-esteso")
        .map(|n| leaf(n, "errore-esteso"))
        .transpose()?;
    children.end()?;
    Ok(Dati {
        issuer,
        time,
        id,
        msgid,
        receipt_type,
        delivery,
        receptions,
        extended_error,
    })
}

/// `<data zona="…">(giorno, ora)</data>`.
fn data(node: &Node) -> Result<LocalTime, DaticertError> {
    allow_attributes(node, "data", &["zona"])?;
    no_text(node, "data")?;
    let zona = required_attribute(node, "data", "zona")?;
    let mut children = Children::new(node, "data");
    let giorno = leaf(children.one("giorno")?, "giorno")?;
    let ora = leaf(children.one("ora")?, "ora")?;
    children.end()?;
    Ok(LocalTime::parse(&giorno, &ora, zona)?)
}

/// Walks an element's children in DTD order.
struct Children<'a> {
    parent: &'static str,
    nodes: &'a [Node],
    at: usize,
}

impl<'a> Children<'a> {
    fn new(node: &'a Node, parent: &'static str) -> Children<'a> {
        Children {
            parent,
            nodes: &node.children,
            at: 0,
        }
    }

    fn peek_is(&self, name: &str) -> bool {
        self.nodes.get(self.at).is_some_and(|n| n.name == name)
    }

    fn one(&mut self, name: &'static str) -> Result<&'a Node, DaticertError> {
        self.optional(name).ok_or(DaticertError::Missing {
            parent: self.parent,
            element: name,
        })
    }

    fn optional(&mut self, name: &str) -> Option<&'a Node> {
        if !self.peek_is(name) {
            return None;
        }
        self.at += 1;
        self.nodes.get(self.at - 1)
    }

    fn many(
        &mut self,
        name: &'static str,
        at_least: usize,
    ) -> Result<Vec<&'a Node>, DaticertError> {
        let mut found = Vec::new();
        while let Some(node) = self.optional(name) {
            found.push(node);
        }
        if found.len() < at_least {
            return Err(DaticertError::Missing {
                parent: self.parent,
                element: name,
            });
        }
        Ok(found)
    }

    fn end(&self) -> Result<(), DaticertError> {
        match self.nodes.get(self.at) {
            Some(extra) => Err(DaticertError::Unexpected {
                parent: self.parent,
                found: extra.name.clone(),
            }),
            None => Ok(()),
        }
    }
}

fn leaf(node: &Node, name: &'static str) -> Result<String, DaticertError> {
    allow_attributes(node, name, &[])?;
    text_of(node, name)
}

fn text_of(node: &Node, name: &'static str) -> Result<String, DaticertError> {
    if let Some(child) = node.children.first() {
        return Err(DaticertError::Unexpected {
            parent: name,
            found: child.name.clone(),
        });
    }
    Ok(node.text.trim().to_string())
}

fn no_text(node: &Node, name: &'static str) -> Result<(), DaticertError> {
    if node.text.trim().is_empty() {
        Ok(())
    } else {
        Err(DaticertError::TextNotAllowed(name))
    }
}

fn attribute<'n>(node: &'n Node, name: &str) -> Option<&'n str> {
    node.attributes
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn required_attribute<'n>(
    node: &'n Node,
    element: &'static str,
    name: &'static str,
) -> Result<&'n str, DaticertError> {
    attribute(node, name).ok_or(DaticertError::MissingAttribute {
        element,
        attribute: name,
    })
}

/// Declared attributes only; namespace declarations are tolerated.
fn allow_attributes(
    node: &Node,
    element: &'static str,
    declared: &[&str],
) -> Result<(), DaticertError> {
    match node
        .attributes
        .iter()
        .find(|(key, _)| !declared.contains(&key.as_str()) && !key.starts_with("xmlns"))
    {
        Some((key, _)) => Err(DaticertError::UnknownAttribute {
            element,
            attribute: key.clone(),
        }),
        None => Ok(()),
    }
}

fn invalid(element: &'static str, attribute: &'static str, value: &str) -> DaticertError {
    DaticertError::InvalidValue {
        element,
        attribute,
        value: value.to_string(),
    }
}
