//! The UNI 11386:2020 (SInCRO 2.0) `PIndex` of an archival package:
//! written here, and checked structurally on the way back (the element order and the
//! required attributes of the standard's XSD, `Unisincro_PIndex.xsd`; `xmllint --schema`
//! is the external validator the tests run). The reader takes untrusted bytes and never
//! panics.

use jiff::Timestamp;
use quick_xml::Writer;
use quick_xml::events::BytesDecl;
use quick_xml::events::BytesText;
use quick_xml::events::Event;

/// The SInCRO 2.0 namespace.
pub const NAMESPACE: &str = "http://www.uni.com/U3011/sincro-v2/";
/// The fixed `sincro:uri`.
pub const URI: &str = "http://www.uni.com/U3011/sincro-v2/PIndex.xsd";

/// One file listed in the index.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IndexFile {
    /// Its identifier.
    pub id: String,
    /// Its path, relative to the index.
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// MIME type.
    pub format: String,
    /// File extension.
    pub extension: String,
}

/// One `FileGroup`: the files of one SIP.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IndexGroup {
    /// Its identifier (the SIP id).
    pub id: String,
    /// A label (kind and subject).
    pub label: String,
    /// Its files.
    pub files: Vec<IndexFile>,
}

/// What an index says about its package.
#[derive(Clone, Debug)]
pub struct IndexInput {
    /// The index's identifier.
    pub id: String,
    /// The package (PVolume) identifier.
    pub volume_id: String,
    /// The package label.
    pub volume_label: String,
    /// The conservation service (submitter and signer).
    pub provider_name: String,
    /// The mailbox (holder, soggetto produttore).
    pub mailbox: String,
    /// When the index was made.
    pub created: Timestamp,
    /// The groups.
    pub groups: Vec<IndexGroup>,
}

/// How the index spells its own identity and law.
const MANUAL: &str = "Manuale di conservazione del servizio pecd";
const LAWS: &str = "Linee Guida AgID sulla formazione, gestione e conservazione dei documenti informatici (2020, agg. 2021)";

/// The index XML: one element per line down to `File` and the agents, as `xmllint
/// --format` would not (the lines keep a diff of two indexes readable).
pub fn write(input: &IndexInput) -> std::io::Result<String> {
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    raw(&mut w, "\n")?;
    w.create_element("sincro:PIndex")
        .with_attributes([
            ("xmlns:sincro", NAMESPACE),
            ("sincro:language", "it"),
            ("sincro:sincroVersion", "2.0"),
            ("sincro:uri", URI),
        ])
        .write_inner_content(|w| {
            raw(w, "\n ")?;
            self_description(w, input)?;
            raw(w, "\n ")?;
            w.create_element("sincro:PVolume")
                .write_inner_content(|w| {
                    id(w, &input.volume_id)?;
                    leaf(w, "sincro:Label", &input.volume_label)
                })?;
            raw(w, "\n")?;
            for group in &input.groups {
                file_group(w, group)?;
            }
            raw(w, " ")?;
            w.create_element("sincro:Process")
                .write_inner_content(|w| process(w, input))?;
            raw(w, "\n")
        })?;
    raw(&mut w, "\n")?;
    String::from_utf8(w.into_inner()).map_err(std::io::Error::other)
}

fn self_description(w: &mut Writer<Vec<u8>>, input: &IndexInput) -> std::io::Result<()> {
    w.create_element("sincro:SelfDescription")
        .write_inner_content(|w| {
            id(w, &input.id)?;
            w.create_element("sincro:CreatingApplication")
                .write_inner_content(|w| {
                    leaf(w, "sincro:Name", "pecd")?;
                    leaf(w, "sincro:Version", env!("CARGO_PKG_VERSION"))?;
                    leaf(w, "sincro:Producer", &input.provider_name)
                })?;
            Ok(())
        })?;
    Ok(())
}

fn file_group(w: &mut Writer<Vec<u8>>, group: &IndexGroup) -> std::io::Result<()> {
    raw(w, " ")?;
    w.create_element("sincro:FileGroup")
        .write_inner_content(|w| {
            id(w, &group.id)?;
            leaf(w, "sincro:Label", &group.label)?;
            raw(w, "\n")?;
            for file in &group.files {
                raw(w, "  ")?;
                w.create_element("sincro:File")
                    .with_attributes([
                        ("sincro:encoding", "binary"),
                        ("sincro:format", file.format.as_str()),
                        ("sincro:extension", file.extension.as_str()),
                    ])
                    .write_inner_content(|w| {
                        id(w, &file.id)?;
                        leaf(w, "sincro:Path", &file.path)?;
                        w.create_element("sincro:Hash")
                            .with_attribute(("sincro:hashFunction", "SHA-256"))
                            .write_text_content(BytesText::new(&file.sha256))?;
                        Ok(())
                    })?;
                raw(w, "\n")?;
            }
            raw(w, " ")
        })?;
    raw(w, "\n")
}

fn process(w: &mut Writer<Vec<u8>>, input: &IndexInput) -> std::io::Result<()> {
    raw(w, "\n")?;
    let holder = ("sincro:holderRole", "soggetto produttore");
    let signer = (
        "sincro:signerRole",
        "Responsabile del servizio di conservazione",
    );
    agent(w, "sincro:Submitter", None, &input.provider_name, MANUAL)?;
    agent(
        w,
        "sincro:Holder",
        Some(holder),
        &input.mailbox,
        "Titolare della casella PEC",
    )?;
    agent(
        w,
        "sincro:AuthorizedSigner",
        Some(signer),
        &input.provider_name,
        MANUAL,
    )?;
    raw(w, "  ")?;
    let created = input.created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    w.create_element("sincro:TimeReference")
        .write_inner_content(|w| {
            w.create_element("sincro:TimeInfo")
                .with_attribute(("sincro:attachedTimeStamp", "false"))
                .write_text_content(BytesText::new(&created))?;
            Ok(())
        })?;
    raw(w, "\n  ")?;
    leaf(w, "sincro:LawsAndRegulations", LAWS)?;
    raw(w, "\n ")
}

/// One agent of the Process (a legal person), on its own line.
fn agent(
    w: &mut Writer<Vec<u8>>,
    element: &str,
    role: Option<(&str, &str)>,
    name: &str,
    document: &str,
) -> std::io::Result<()> {
    raw(w, "  ")?;
    w.create_element(element)
        .with_attribute(("sincro:agentType", "legal person"))
        .with_attributes(role)
        .write_inner_content(|w| {
            w.create_element("sincro:AgentName")
                .write_inner_content(|w| leaf(w, "sincro:FormalName", name))?;
            leaf(w, "sincro:RelevantDocument", document)
        })?;
    raw(w, "\n")
}

/// `<sincro:ID sincro:scheme="local">value</sincro:ID>`.
fn id(w: &mut Writer<Vec<u8>>, value: &str) -> std::io::Result<()> {
    w.create_element("sincro:ID")
        .with_attribute(("sincro:scheme", "local"))
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

/// An element with text only.
fn leaf(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(value))?;
    Ok(())
}

/// Whitespace between elements, written as it is.
fn raw(w: &mut Writer<Vec<u8>>, whitespace: &str) -> std::io::Result<()> {
    w.write_event(Event::Text(BytesText::from_escaped(whitespace)))
}

/// What the structural check found: every listed file as (path, SHA-256).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Listed {
    /// The index identifier.
    pub id: String,
    /// (path relative to the index, hex SHA-256).
    pub files: Vec<(String, String)>,
}

/// Why an index does not pass the structural check.
#[derive(Debug, thiserror::Error)]
pub enum PindexError {
    /// Not well-formed XML.
    #[error("index XML: {0}")]
    Xml(#[from] quick_xml::Error),
    /// An attribute of the root does not parse.
    #[error("index XML: {0}")]
    Attribute(#[from] quick_xml::events::attributes::AttrError),
    /// An entity other than the five XML predefines.
    #[error("unknown entity in index")]
    Entity,
    /// The root is another element.
    #[error("root is {0}, not PIndex")]
    Root(String),
    /// The root has no content.
    #[error("root {0} is empty")]
    EmptyRoot(String),
    /// The root lacks the SInCRO 2.0 identification.
    #[error("PIndex lacks the SInCRO 2.0 namespace, sincroVersion or uri")]
    NotSincro,
    /// A `File` without `Path` or `Hash`.
    #[error("a File lacks Path or Hash")]
    IncompleteFile,
    /// The top-level elements are not SelfDescription, PVolume, FileGroup…, Process.
    #[error("PIndex children out of order or missing: {0:?}")]
    Order(Vec<String>),
    /// No `SelfDescription/ID`.
    #[error("no SelfDescription/ID")]
    NoId,
}

/// Checks an index's structure (root, fixed attributes, the order of the top-level
/// elements, every `File` with ID, Path and Hash) and lists its files.
pub fn check(xml: &[u8]) -> Result<Listed, PindexError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut walk = Walk::default();
    let mut buffer = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buffer)?;
        match event {
            Event::Start(start) => {
                let name = local(start.name().as_ref());
                if walk.stack.is_empty() {
                    check_root(&start, &name)?;
                }
                if walk.stack.len() == 1 {
                    walk.top.push(name.clone());
                }
                walk.stack.push(name);
                walk.text.clear();
            }
            Event::Empty(start) if walk.stack.is_empty() => {
                let name = local(start.name().as_ref());
                return Err(PindexError::EmptyRoot(name));
            }
            Event::Text(t) => {
                walk.text
                    .push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(r) => {
                let name = r.xml_content(quick_xml::XmlVersion::Implicit1_0);
                walk.text.push_str(predefined_entity(&name)?);
            }
            Event::End(_) => walk.end()?,
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    check_order(&walk.top)?;
    Ok(Listed {
        id: walk.id.ok_or(PindexError::NoId)?,
        files: walk.files,
    })
}

/// Where [`check`] is in the document, and what it has read so far.
#[derive(Default)]
struct Walk {
    /// The open elements, outermost first.
    stack: Vec<String>,
    /// The children of the root, in order.
    top: Vec<String>,
    /// Each `File`'s path and hash.
    files: Vec<(String, String)>,
    /// `SelfDescription/ID`.
    id: Option<String>,
    /// The path and hash of the `File` being read.
    current: (Option<String>, Option<String>),
    /// The text of the element being read.
    text: String,
}

impl Walk {
    /// An element closes: its text goes where the element says.
    fn end(&mut self) -> Result<(), PindexError> {
        let name = self.stack.pop().unwrap_or_default();
        let parent = self.stack.last().map(String::as_str);
        match (name.as_str(), parent) {
            ("ID", Some("SelfDescription")) => self.id = Some(self.text.clone()),
            ("Path", Some("File")) => self.current.0 = Some(self.text.clone()),
            ("Hash", Some("File")) => self.current.1 = Some(self.text.clone()),
            ("File", _) => match std::mem::take(&mut self.current) {
                (Some(path), Some(hash)) => self.files.push((path, hash)),
                _ => return Err(PindexError::IncompleteFile),
            },
            _ => {}
        }
        self.text.clear();
        Ok(())
    }
}

/// The text of one of XML's five predefined entities; any other is refused.
fn predefined_entity(name: &str) -> Result<&'static str, PindexError> {
    match name {
        "amp" => Ok("&"),
        "lt" => Ok("<"),
        "gt" => Ok(">"),
        "quot" => Ok("\""),
        "apos" => Ok("'"),
        _ => Err(PindexError::Entity),
    }
}

/// The root's children are SelfDescription, PVolume, one FileGroup or more, Process.
fn check_order(top: &[String]) -> Result<(), PindexError> {
    let groups = top.iter().filter(|n| *n == "FileGroup").count();
    let expected: Vec<&str> = ["SelfDescription", "PVolume"]
        .into_iter()
        .chain(std::iter::repeat_n("FileGroup", groups))
        .chain(["Process"])
        .collect();
    if groups == 0 || top != expected {
        return Err(PindexError::Order(top.to_vec()));
    }
    Ok(())
}

fn check_root(start: &quick_xml::events::BytesStart<'_>, name: &str) -> Result<(), PindexError> {
    if name != "PIndex" {
        return Err(PindexError::Root(name.to_string()));
    }
    let mut namespace = false;
    let mut version = false;
    let mut uri = false;
    for attribute in start.attributes() {
        let attribute = attribute?;
        let key = attribute.key.as_ref().to_string();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)?
            .to_string();
        match key.rsplit(':').next().unwrap_or_default() {
            _ if key.starts_with("xmlns") => namespace |= value == NAMESPACE,
            "sincroVersion" => version = value == "2.0",
            "uri" => uri = value == URI,
            _ => {}
        }
    }
    if namespace && version && uri {
        Ok(())
    } else {
        Err(PindexError::NotSincro)
    }
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> IndexInput {
        IndexInput {
            id: "urn:pecd:pindex:1".into(),
            volume_id: "pda-1".into(),
            volume_label: "PEC <test> & co".into(),
            provider_name: "Gestore A".into(),
            mailbox: "mario@pec-a.test".into(),
            created: Timestamp::UNIX_EPOCH,
            groups: vec![IndexGroup {
                id: "pdv-1".into(),
                label: "posta-certificata".into(),
                files: vec![IndexFile {
                    id: "pdv-1/message".into(),
                    path: "../../../representations/rep1/data/msg-000001/message.eml".into(),
                    sha256: "ab".repeat(32),
                    format: "message/rfc822".into(),
                    extension: "eml".into(),
                }],
            }],
        }
    }

    #[test]
    fn the_written_index_is_the_golden_one() {
        let golden = include_str!("../../tests/data/pindex/golden.xml")
            .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
        let mut input = sample();
        input.created = "2026-12-07T01:00:00Z".parse().unwrap();
        input.groups.push(IndexGroup {
            id: "pdv-2".into(),
            label: "accettazione: \"sì\" & <no>".into(),
            files: vec![],
        });
        assert_eq!(write(&input).unwrap(), golden);
    }

    #[test]
    fn written_index_passes_the_check() {
        let xml = write(&sample()).unwrap();
        let listed = check(xml.as_bytes()).unwrap();
        assert_eq!(listed.id, "urn:pecd:pindex:1");
        assert_eq!(listed.files.len(), 1);
        assert_eq!(listed.files[0].1, "ab".repeat(32));
    }

    #[test]
    fn broken_indexes_are_errors_not_panics() {
        let xml = write(&sample()).unwrap();
        assert!(
            check(
                xml.replace("sincroVersion=\"2.0\"", "sincroVersion=\"1.0\"")
                    .as_bytes()
            )
            .is_err()
        );
        assert!(check(xml.replace("<sincro:Process>", "<sincro:Other>").as_bytes()).is_err());
        for cut in [0, 10, 100, xml.len() / 2] {
            let _ = check(&xml.as_bytes()[..cut]);
        }
        assert!(check(b"\xff\xfe<").is_err());
    }
}
