//! The UNI 11386:2020 (SInCRO 2.0) `PIndex` of an archival package (conservation.md §2):
//! written here, and checked structurally on the way back (the element order and the
//! required attributes of `shared/spec/sincro/Unisincro_PIndex.xsd`; `xmllint --schema`
//! is the external validator the tests run). The reader takes untrusted bytes and never
//! panics.

use jiff::Timestamp;
use quick_xml::events::Event;

use crate::conservation::xml_escape;

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

fn agent(element: &str, extra: &str, agent_type: &str, name: &str, document: &str) -> String {
    format!(
        "  <sincro:{element} sincro:agentType=\"{agent_type}\"{extra}>\
         <sincro:AgentName><sincro:FormalName>{}</sincro:FormalName></sincro:AgentName>\
         <sincro:RelevantDocument>{}</sincro:RelevantDocument></sincro:{element}>\n",
        xml_escape(name),
        xml_escape(document)
    )
}

/// The index XML.
pub fn write(input: &IndexInput) -> String {
    let e = xml_escape;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<sincro:PIndex xmlns:sincro=\"{NAMESPACE}\" sincro:language=\"it\" sincro:sincroVersion=\"2.0\" sincro:uri=\"{URI}\">\n"
    ));
    out.push_str(&format!(
        " <sincro:SelfDescription><sincro:ID sincro:scheme=\"local\">{}</sincro:ID>\
         <sincro:CreatingApplication><sincro:Name>pecd</sincro:Name><sincro:Version>{}</sincro:Version>\
         <sincro:Producer>{}</sincro:Producer></sincro:CreatingApplication></sincro:SelfDescription>\n",
        e(&input.id),
        env!("CARGO_PKG_VERSION"),
        e(&input.provider_name)
    ));
    out.push_str(&format!(
        " <sincro:PVolume><sincro:ID sincro:scheme=\"local\">{}</sincro:ID><sincro:Label>{}</sincro:Label></sincro:PVolume>\n",
        e(&input.volume_id),
        e(&input.volume_label)
    ));
    for group in &input.groups {
        out.push_str(&format!(
            " <sincro:FileGroup><sincro:ID sincro:scheme=\"local\">{}</sincro:ID><sincro:Label>{}</sincro:Label>\n",
            e(&group.id),
            e(&group.label)
        ));
        for file in &group.files {
            out.push_str(&format!(
                "  <sincro:File sincro:encoding=\"binary\" sincro:format=\"{}\" sincro:extension=\"{}\">\
                 <sincro:ID sincro:scheme=\"local\">{}</sincro:ID><sincro:Path>{}</sincro:Path>\
                 <sincro:Hash sincro:hashFunction=\"SHA-256\">{}</sincro:Hash></sincro:File>\n",
                e(&file.format),
                e(&file.extension),
                e(&file.id),
                e(&file.path),
                e(&file.sha256)
            ));
        }
        out.push_str(" </sincro:FileGroup>\n");
    }
    out.push_str(" <sincro:Process>\n");
    let manual = "Manuale di conservazione del servizio pecd";
    out.push_str(&agent(
        "Submitter",
        "",
        "legal person",
        &input.provider_name,
        manual,
    ));
    out.push_str(&agent(
        "Holder",
        " sincro:holderRole=\"soggetto produttore\"",
        "legal person",
        &input.mailbox,
        "Titolare della casella PEC",
    ));
    out.push_str(&agent(
        "AuthorizedSigner",
        " sincro:signerRole=\"Responsabile del servizio di conservazione\"",
        "legal person",
        &input.provider_name,
        manual,
    ));
    out.push_str(&format!(
        "  <sincro:TimeReference><sincro:TimeInfo sincro:attachedTimeStamp=\"false\">{}</sincro:TimeInfo></sincro:TimeReference>\n",
        input.created.strftime("%Y-%m-%dT%H:%M:%SZ")
    ));
    out.push_str(
        "  <sincro:LawsAndRegulations>Linee Guida AgID sulla formazione, gestione e conservazione dei documenti informatici (2020, agg. 2021)</sincro:LawsAndRegulations>\n",
    );
    out.push_str(" </sincro:Process>\n</sincro:PIndex>\n");
    out
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
    let mut stack: Vec<String> = Vec::new();
    let mut top: Vec<String> = Vec::new();
    let mut files = Vec::new();
    let mut id = None;
    let mut current: (Option<String>, Option<String>) = (None, None);
    let mut text = String::new();
    let mut buffer = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buffer)?;
        match event {
            Event::Start(start) => {
                let name = local(start.name().as_ref());
                if stack.is_empty() {
                    check_root(&start, &name)?;
                }
                if stack.len() == 1 {
                    top.push(name.clone());
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(start) if stack.is_empty() => {
                let name = local(start.name().as_ref());
                return Err(PindexError::EmptyRoot(name));
            }
            Event::Text(t) => {
                text.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(r) => {
                let resolved = match &*r.xml_content(quick_xml::XmlVersion::Implicit1_0) {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => return Err(PindexError::Entity),
                };
                text.push_str(resolved);
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                let parent = stack.last().map(String::as_str);
                match (name.as_str(), parent) {
                    ("ID", Some("SelfDescription")) => id = Some(text.clone()),
                    ("Path", Some("File")) => current.0 = Some(text.clone()),
                    ("Hash", Some("File")) => current.1 = Some(text.clone()),
                    ("File", _) => match std::mem::take(&mut current) {
                        (Some(path), Some(hash)) => files.push((path, hash)),
                        _ => return Err(PindexError::IncompleteFile),
                    },
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    let groups = top.iter().filter(|n| *n == "FileGroup").count();
    let expected: Vec<&str> = ["SelfDescription", "PVolume"]
        .into_iter()
        .chain(std::iter::repeat_n("FileGroup", groups))
        .chain(["Process"])
        .collect();
    if groups == 0 || top != expected {
        return Err(PindexError::Order(top));
    }
    Ok(Listed {
        id: id.ok_or(PindexError::NoId)?,
        files,
    })
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
    fn written_index_passes_the_check() {
        let xml = write(&sample());
        let listed = check(xml.as_bytes()).unwrap();
        assert_eq!(listed.id, "urn:pecd:pindex:1");
        assert_eq!(listed.files.len(), 1);
        assert_eq!(listed.files[0].1, "ab".repeat(32));
    }

    #[test]
    fn broken_indexes_are_errors_not_panics() {
        let xml = write(&sample());
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
