//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2): the MIME tree as IMAP describes it.
//!
//! Types and parameters come from mail-parser's reading of the fields (RFC 2231
//! continuations joined); identifiers, descriptions, encodings and locations are the
//! raw unfolded values, as Dovecot prints them.

use imap_codec::imap_types::body::BasicFields;
use imap_codec::imap_types::body::Body;
use imap_codec::imap_types::body::BodyStructure;
use imap_codec::imap_types::body::Disposition;
use imap_codec::imap_types::body::Language;
use imap_codec::imap_types::body::Location;
use imap_codec::imap_types::body::MultiPartExtensionData;
use imap_codec::imap_types::body::SinglePartExtensionData;
use imap_codec::imap_types::body::SpecificFields;
use imap_codec::imap_types::core::IString;
use imap_codec::imap_types::core::Vec1;

use crate::imap::message::envelope;
use crate::imap::message::envelope::istring;
use crate::imap::message::envelope::nstring;
use crate::imap::message::mime::Entity;
use crate::imap::message::mime::Kind;
use crate::imap::message::mime::count_lines;

/// Which of the two FETCH items to build.
#[derive(Clone, Copy)]
pub(super) enum Form {
    /// `BODY`: the non-extensible form.
    Body,
    /// `BODYSTRUCTURE`: with extension data.
    Extended,
}

/// The structure of `entity` and everything below it.
pub(super) fn of(entity: &Entity<'_>, form: Form) -> BodyStructure<'static> {
    match &entity.kind {
        Kind::Multipart(children) => {
            let bodies: Vec<BodyStructure<'static>> =
                children.iter().map(|child| of(child, form)).collect();
            let bodies = Vec1::try_from(bodies).unwrap_or_else(|_| {
                // `Entity` keeps at least one child; this is the same empty part.
                Vec1::from(of(&Entity::message(b""), form))
            });
            let extension_data = match form {
                Form::Body => None,
                Form::Extended => Some(MultiPartExtensionData {
                    parameter_list: parameters(&entity.content.parameters),
                    tail: Some(tail(entity)),
                }),
            };
            BodyStructure::Multi {
                bodies,
                subtype: istring(entity.content.subtype.as_bytes()),
                extension_data,
            }
        }
        Kind::Message(inner) => single(
            entity,
            form,
            SpecificFields::Message {
                envelope: Box::new(envelope::of(inner)),
                body_structure: Box::new(of(inner, form)),
                number_of_lines: count_lines(entity.body),
            },
        ),
        Kind::Single if entity.content.is("text", None) => single(
            entity,
            form,
            SpecificFields::Text {
                subtype: istring(entity.content.subtype.as_bytes()),
                number_of_lines: count_lines(entity.body),
            },
        ),
        Kind::Single => single(
            entity,
            form,
            SpecificFields::Basic {
                r#type: istring(entity.content.media_type.as_bytes()),
                subtype: istring(entity.content.subtype.as_bytes()),
            },
        ),
    }
}

fn single(
    entity: &Entity<'_>,
    form: Form,
    specific: SpecificFields<'static>,
) -> BodyStructure<'static> {
    let mut parameter_list = parameters(&entity.content.parameters);
    let has_charset = entity
        .content
        .parameters
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("charset"));
    if entity.content.is("text", None) && !has_charset {
        // RFC 2046 §4.1.2's default, written out as Dovecot does.
        parameter_list.insert(0, (istring(*b"charset"), istring(*b"us-ascii")));
    }
    let basic = BasicFields {
        parameter_list,
        id: nstring(entity.field("Content-ID")),
        description: nstring(entity.field("Content-Description")),
        content_transfer_encoding: istring(transfer_encoding(entity)),
        size: u32::try_from(entity.body.len()).unwrap_or(u32::MAX),
    };
    let extension_data = match form {
        Form::Body => None,
        Form::Extended => Some(SinglePartExtensionData {
            md5: nstring(entity.field("Content-MD5")),
            tail: Some(tail(entity)),
        }),
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data,
    }
}

/// Disposition, language and location: the extension data both kinds share.
fn tail(entity: &Entity<'_>) -> Disposition<'static> {
    let disposition = entity
        .content
        .disposition
        .as_ref()
        .map(|(value, parameters_)| (istring(value.as_bytes()), parameters(parameters_)));
    let language = entity
        .field("Content-Language")
        .map(|value| {
            String::from_utf8_lossy(&value)
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(|tag| istring(tag.as_bytes()))
                .collect()
        })
        .unwrap_or_default();
    Disposition {
        disposition,
        tail: Some(Language {
            language,
            tail: Some(Location {
                location: nstring(entity.field("Content-Location")),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// The `Content-Transfer-Encoding` as written; `7bit` when absent or not a token
/// (RFC 2045 §6.1), as Dovecot reports it.
fn transfer_encoding(entity: &Entity<'_>) -> Vec<u8> {
    const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";
    entity
        .field("Content-Transfer-Encoding")
        .filter(|value| {
            !value.is_empty()
                && value
                    .iter()
                    .all(|byte| byte.is_ascii_graphic() && !TSPECIALS.contains(byte))
        })
        .unwrap_or_else(|| b"7bit".to_vec())
}

fn parameters(parameters: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    parameters
        .iter()
        .map(|(name, value)| (istring(name.as_bytes()), istring(value.as_bytes())))
        .collect()
}
