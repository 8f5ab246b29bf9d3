//! The real Aruba samples and the repository's PEC messages, structure against sections.

use super::*;
use crate::crypto::smime::testing::aruba_2014;

/// Every leaf's size is the length of its BODY[part] bytes, and every message/rfc822
/// part's encapsulated header is what BODY[part.HEADER] returns: checks the structure
/// and the section code against each other on a real message tree.
fn check_consistent(raw: &[u8], structure: &BodyStructure<'_>, at: &mut Vec<u32>) {
    match structure {
        BodyStructure::Single { body, .. } => {
            let number = if at.is_empty() { vec![1] } else { at.clone() };
            let bytes = section(raw, Some(&Section::Part(part(&number))), None);
            assert_eq!(bytes.len(), body.basic.size as usize, "part {number:?}");
        }
        BodyStructure::Multi { bodies, .. } => {
            for (index, child) in bodies.as_ref().iter().enumerate() {
                at.push(index as u32 + 1);
                check_consistent(raw, child, at);
                at.pop();
            }
        }
    }
}

/// The tree as `type/subtype(children)`, for readable assertions.
fn shape(structure: &BodyStructure<'_>) -> String {
    use imap_codec::imap_types::body::SpecificFields;
    let s = |string: &imap_codec::imap_types::core::IString<'_>| {
        String::from_utf8_lossy(string.as_ref()).to_lowercase()
    };
    match structure {
        BodyStructure::Single { body, .. } => match &body.specific {
            SpecificFields::Basic { r#type, subtype } => format!("{}/{}", s(r#type), s(subtype)),
            SpecificFields::Text { subtype, .. } => format!("text/{}", s(subtype)),
            SpecificFields::Message { body_structure, .. } => {
                format!("message/rfc822[{}]", shape(body_structure))
            }
        },
        BodyStructure::Multi {
            bodies, subtype, ..
        } => {
            let children: Vec<String> = bodies.as_ref().iter().map(shape).collect();
            format!("multipart/{}({})", s(subtype), children.join(","))
        }
    }
}

fn repo_messages() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/messages");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn real_aruba_delivery_receipt_has_the_pec_structure() {
    let Some(files) = aruba_2014() else {
        return;
    };
    let consegna = files
        .iter()
        .find(|file| file.ends_with("message2_consegna.eml"))
        .unwrap();
    let raw = std::fs::read(consegna).unwrap();
    let structure = body_structure(&raw, true);
    assert_eq!(
        shape(&structure),
        "multipart/signed(multipart/mixed(text/plain,application/xml,\
         message/rfc822[multipart/mixed(multipart/alternative(text/plain,text/html))]),\
         application/x-pkcs7-signature)"
    );
    check_consistent(&raw, &structure, &mut Vec::new());
    let daticert = binary(&raw, &path(&[1, 2]), None).unwrap();
    assert!(daticert.starts_with(b"<?xml"), "{daticert:?}");
    let postacert = text(&raw, Some(Section::Header(Some(part(&[1, 3])))));
    assert!(postacert.contains("Subject: test private\n"), "{postacert}");
    let alternative = text(&raw, Some(Section::Mime(part(&[1, 3, 1, 2]))));
    assert!(
        alternative.starts_with("Content-Type: text/html"),
        "{alternative}"
    );
    let wire = wire_structure(&raw, true);
    assert!(
        wire.ends_with(
            "\"signed\" (\"protocol\" \"application/x-pkcs7-signature\" \"micalg\" \"sha1\" \
             \"boundary\" \"----17B8B201CA8B6BFDD8083A5E6B8E4281\") NIL NIL NIL)"
        ),
        "{wire}"
    );
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        check_consistent(&raw, &body_structure(&raw, false), &mut Vec::new());
        let _ = envelope(&raw);
    }
}

#[test]
fn repo_pec_messages_have_consistent_structures() {
    for file in repo_messages() {
        let raw = std::fs::read(&file).unwrap();
        let structure = body_structure(&raw, true);
        check_consistent(&raw, &structure, &mut Vec::new());
        assert!(
            shape(&structure).starts_with("multipart/signed(multipart/mixed("),
            "{}: {}",
            file.display(),
            shape(&structure)
        );
        // The raw value, encoded words and all: its first line starts the subject.
        let first_line = String::from_utf8_lossy(&raw)
            .lines()
            .find_map(|line| line.strip_prefix("Subject: ").map(str::to_string))
            .unwrap();
        let subject = envelope(&raw).subject.into_option().unwrap();
        assert!(
            subject.starts_with(first_line.as_bytes()),
            "{}",
            file.display()
        );
    }
}
