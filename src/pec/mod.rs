//! PEC formats and rules: pure code, no I/O.
//!
//! Glossary (regulation term → identifier):
//!
//! | Italian | here |
//! |---|---|
//! | busta di trasporto | [`envelope::transport`] |
//! | busta di anomalia | [`envelope::anomaly`] |
//! | dati di certificazione (`daticert.xml`) | [`daticert::Daticert`] |
//! | messaggio originale (`postacert.eml`) | [`compose::POSTACERT`] |
//! | ricevute e avvisi | [`receipt`], [`kind::ReceiptKind`] |
//! | indice dei gestori PEC | [`index::ProvidersIndex`] |
//! | tipo di ricevuta (completa / breve / sintetica) | [`kind::ReceiptType`] |
//!
//! The builders return an [`compose::Unsigned`] message: the outer headers plus the
//! `multipart/mixed` entity to sign. Signing belongs to `crate::crypto::smime`, so this
//! module never touches a key.

pub mod access;
pub mod breve;
pub mod compose;
pub mod daticert;
pub mod envelope;
pub mod headers;
pub mod id;
pub mod index;
pub mod kind;
pub mod ldif;
pub mod reader;
pub mod receipt;
pub mod status;
pub mod text;
pub mod time;
