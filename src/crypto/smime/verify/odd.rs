//! SignedData shaped to make two readers disagree about who signed or what was signed,
//! each performed against [`verify`](super::verify) and refused. With
//! `PECD_SMIME_CORPUS=DIR` the messages are also written to DIR, which is how
//! `fuzz/corpus/smime_verify` got its odd seeds.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cms::signed_data::SignedData;
use cms::signed_data::SignerInfos;
use jiff::Timestamp;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use openssl::x509::X509;
use openssl::x509::X509Ref;
use openssl::x509::extension::SubjectAlternativeName;
use x509_cert::attr::Attribute;
use x509_cert::der::Any;
use x509_cert::der::asn1::OctetString;
use x509_cert::der::asn1::SetOfVec;
use x509_cert::der::oid::ObjectIdentifier;

use super::super::Anchors;
use super::super::shapes;
use super::super::shapes::signing_time_value;
use super::super::sign;
use super::super::sign_detached;
use super::super::split_signed;
use super::super::testing::pki;
use super::super::testing::replace;
use super::super::testing::same_names;
use super::super::testing::unsigned;
use super::SIGNING_TIME;
use super::SignatureReport;
use super::verify;
use crate::crypto::identity::Signer;

/// What an attacker with no CA behind it makes: its own key in a self-signed
/// certificate that copies the genuine one's issuer, serial number and subject, so
/// that it answers to the genuine certificate's IssuerAndSerialNumber.
pub(crate) fn impostor(genuine: &X509Ref) -> (X509, PKey<Private>) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut builder = same_names(genuine, &key);
    let san = SubjectAlternativeName::new()
        .email("posta-certificata@pec-a.test")
        .build(&builder.x509v3_context(None, None))
        .unwrap();
    builder.append_extension(san).unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    (builder.build(), key)
}

/// `der` with the DER of `first` and `second`, adjacent in that order, swapped.
pub(crate) fn swapped(der: &[u8], first: &[u8], second: &[u8]) -> Vec<u8> {
    shapes::swapped(der, first, second).unwrap()
}

/// The impostor's signature over `entity` embedding its own certificate and the
/// genuine one, once with each certificate first on the wire.
pub(crate) fn forged_both_orders(genuine: &X509Ref, entity: &[u8]) -> [Vec<u8>; 2] {
    let (certificate, key) = impostor(genuine);
    let forger = Signer::new(certificate.clone(), key, vec![genuine.to_owned()]).unwrap();
    let der = sign_detached(&forger, entity).unwrap();
    let (ours, theirs) = (certificate.to_der().unwrap(), genuine.to_der().unwrap());
    let adjacent =
        |a: &[u8], b: &[u8]| der.windows(a.len() + b.len()).any(|w| w == [a, b].concat());
    let other = if adjacent(&ours, &theirs) {
        swapped(&der, &ours, &theirs)
    } else {
        swapped(&der, &theirs, &ours)
    };
    [der, other]
}

/// A signed message whose signature part carries `der` instead of its own.
fn message_with_signature(der: &[u8]) -> Vec<u8> {
    let message = sign(&pki().signer, &unsigned()).unwrap();
    let own = split_signed(&message).unwrap().signature;
    replace(&message, &wrapped(&own), &wrapped(der))
}

fn wrapped(der: &[u8]) -> Vec<u8> {
    let text = STANDARD.encode(der);
    let lines: Vec<&[u8]> = text.as_bytes().chunks(76).collect();
    lines.join(&b"\r\n"[..])
}

/// Our own signature over the test entity with its SignedData edited by `edit`.
fn edited(edit: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let entity = split_signed(&sign(&pki().signer, &unsigned()).unwrap())
        .unwrap()
        .entity;
    let der = sign_detached(&pki().signer, &entity).unwrap();
    shapes::edit_signed_data(&der, |signed| {
        edit(signed);
        Ok(())
    })
    .unwrap()
}

fn report(message: &[u8]) -> SignatureReport {
    let parts = split_signed(message).unwrap();
    let anchors = Anchors::from_certificates(vec![pki().ca.certificate.clone()]).unwrap();
    verify(&parts.entity, &parts.signature, &anchors, Timestamp::now())
}

fn refused(name: &str, der: &[u8], because: &str) {
    let message = message_with_signature(der);
    if let Some(dir) = std::env::var_os("PECD_SMIME_CORPUS") {
        std::fs::write(PathBuf::from(dir).join(format!("odd-{name}.eml")), &message).unwrap();
    }
    let report = report(&message);
    assert!(!report.valid, "{name}: {report:?}");
    let error = report.error.unwrap_or_default();
    assert!(error.contains(because), "{name}: {error}");
}

#[test]
fn an_impostor_answering_to_the_genuine_issuer_and_serial_is_refused_first_or_second() {
    let entity = split_signed(&sign(&pki().signer, &unsigned()).unwrap())
        .unwrap()
        .entity;
    let [as_signed, swapped] = forged_both_orders(pki().signer.certificate(), &entity);
    assert_ne!(as_signed, swapped);
    for (name, der) in [
        ("impostor-order-1", as_signed),
        ("impostor-order-2", swapped),
    ] {
        refused(name, &der, "several embedded certificates match the signer");
    }
}

#[test]
fn an_impostor_alone_is_valid_only_as_itself() {
    let (certificate, key) = impostor(pki().signer.certificate());
    let forger = Signer::new(certificate.clone(), key, Vec::new()).unwrap();
    let message = sign(&forger, &unsigned()).unwrap();
    let report = report(&message);
    assert!(report.valid, "the impostor's own key verifies: {report:?}");
    let signer = report.signer.unwrap();
    assert_eq!(signer.der, certificate.to_der().unwrap());
    assert_ne!(signer.der, pki().signer.certificate_der());
    assert!(matches!(report.chain, super::ChainStatus::Untrusted { .. }));
}

/// The one SignerInfo's signed attributes, edited by `edit`.
fn edited_attributes(edit: impl FnOnce(&mut Vec<Attribute>)) -> Vec<u8> {
    edited(|signed| {
        shapes::edit_signed_attributes(signed, 0, |attributes| {
            edit(attributes);
            Ok(())
        })
        .unwrap();
    })
}

#[test]
fn a_signed_attribute_present_twice_is_refused() {
    let der = edited_attributes(|attributes| {
        attributes.push(Attribute {
            oid: SIGNING_TIME,
            values: SetOfVec::try_from(vec![signing_time_value(2001).unwrap()]).unwrap(),
        });
    });
    refused("attribute-twice", &der, "appears twice");
}

#[test]
fn a_signed_attribute_with_two_values_is_refused() {
    let der = edited_attributes(|attributes| {
        for attribute in attributes.iter_mut().filter(|a| a.oid == SIGNING_TIME) {
            attribute
                .values
                .insert(signing_time_value(2001).unwrap())
                .unwrap();
        }
    });
    refused("attribute-two-values", &der, "values instead of one");
}

#[test]
fn two_signer_infos_are_refused() {
    let der = edited(|signed| shapes::add_signer_copy(signed, 0, 1).unwrap());
    refused("two-signers", &der, "2 signers instead of one");
}

#[test]
fn embedded_content_beside_the_detached_entity_is_refused() {
    let der = edited(|signed| {
        signed.encap_content_info.econtent =
            Some(Any::encode_from(&OctetString::new(b"other".to_vec()).unwrap()).unwrap());
    });
    refused("embedded-content", &der, "content of its own");
}

#[test]
fn a_signature_algorithm_naming_another_digest_is_refused() {
    let der = edited(|signed| {
        let mut infos = signed.signer_infos.0.clone().into_vec();
        infos[0].signature_algorithm.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
        signed.signer_infos = SignerInfos(SetOfVec::try_from(infos).unwrap());
    });
    refused("signature-digest-mismatch", &der, "names another digest");
}

#[test]
fn a_digest_the_signed_data_does_not_announce_is_refused() {
    let der = edited(|signed| {
        let mut announced = signed.digest_algorithms.clone().into_vec();
        for algorithm in &mut announced {
            algorithm.oid = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
        }
        signed.digest_algorithms = SetOfVec::try_from(announced).unwrap();
    });
    refused(
        "digest-not-announced",
        &der,
        "not among the SignedData's digest",
    );
}

#[test]
fn a_content_type_attribute_other_than_data_is_refused() {
    let der = edited_attributes(|attributes| {
        for attribute in attributes
            .iter_mut()
            .filter(|a| a.oid == super::fast::CONTENT_TYPE)
        {
            let signed_data = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
            attribute.values =
                SetOfVec::try_from(vec![Any::encode_from(&signed_data).unwrap()]).unwrap();
        }
    });
    refused(
        "content-type-attribute",
        &der,
        "contentType attribute is not data",
    );
}

#[test]
fn a_set_of_many_elements_in_reverse_order_is_refused_before_anything_sorts_it() {
    let der = shapes::unsorted_set_signature(50_000).unwrap();
    refused("unsorted-set", &der, "more than 32");
    let mut past_the_size = der.clone();
    past_the_size.resize(crate::crypto::bounds::MOST_BYTES + 1, 0);
    refused("too-large", &past_the_size, "bytes, more than");
}
