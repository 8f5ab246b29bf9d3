//! The built-in time-stamping authority of development and tests: its own RSA key and
//! a certificate with extendedKeyUsage critical timeStamping, issued by the dev CA when
//! one is at hand. It answers a TimeStampReq with a token `openssl ts -verify` accepts:
//! a CMS SignedData over a TSTInfo with the signed attributes contentType,
//! messageDigest and signingCertificateV2 (RFC 5816). The structures are `x509-tsp`'s
//! and `cms`'s; the RSA signature over the signed attributes is OpenSSL's, because the
//! key is an OpenSSL key (the `cms` builder would need the RustCrypto `rsa` crate).

use std::path::Path;
use std::time::Duration;

use cmpv2::status::PkiStatus;
use cmpv2::status::PkiStatusInfo;
use cms::cert::CertificateChoices;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::content_info::ContentInfo;
use cms::signed_data::CertificateSet;
use cms::signed_data::EncapsulatedContentInfo;
use cms::signed_data::SignedAttributes;
use cms::signed_data::SignedData;
use cms::signed_data::SignerIdentifier;
use cms::signed_data::SignerInfo;
use cms::signed_data::SignerInfos;
use der::Any;
use der::Decode;
use der::Encode;
use der::Tag;
use der::asn1::GeneralizedTime;
use der::asn1::Int;
use der::asn1::ObjectIdentifier;
use der::asn1::OctetString;
use der::asn1::SetOfVec;
use der::asn1::Uint;
use jiff::Timestamp;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::bn::MsbOption;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use openssl::x509::X509;
use openssl::x509::X509Builder;
use openssl::x509::X509Name;
use openssl::x509::X509NameBuilder;
use openssl::x509::extension::AuthorityKeyIdentifier;
use openssl::x509::extension::ExtendedKeyUsage;
use openssl::x509::extension::KeyUsage;
use openssl::x509::extension::SubjectKeyIdentifier;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_tsp::TimeStampResp;
use x509_tsp::TspVersion;
use x509_tsp::TstInfo;

use super::TsaError;
use super::asn1;
use super::parse_request;
use crate::conservation::ConservationError;
use crate::conservation::files;

/// The policy of the built-in TSA: a development policy, not a qualified one.
pub const DEV_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.2026112201");

/// How long a certificate of the built-in TSA is valid: ten years.
const VALIDITY_SECS: i64 = 3653 * 86_400;

/// The built-in time-stamping authority.
#[derive(Clone)]
pub struct Tsa {
    certificate: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for Tsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tsa { key: <redacted> }")
    }
}

/// The CA that issues the built-in TSA's certificate.
type Issuer<'a> = (&'a X509, &'a PKey<Private>);

impl Tsa {
    /// Loads the TSA from `dir/tsa.pem` + `dir/tsa.key`, creating them on first use:
    /// issued by the dev CA when its certificate and key are given and readable,
    /// self-signed otherwise.
    pub fn ensure(dir: &Path, ca: Option<(&Path, &Path)>) -> Result<Tsa, ConservationError> {
        let cert_path = dir.join("tsa.pem");
        let key_path = dir.join("tsa.key");
        if cert_path.exists() && key_path.exists() {
            return Tsa::load(&cert_path, &key_path);
        }
        let issuer = ca.and_then(|(cert, key)| {
            let cert = X509::from_pem(&std::fs::read(cert).ok()?).ok()?;
            let key = PKey::private_key_from_pem(&std::fs::read(key).ok()?).ok()?;
            Some((cert, key))
        });
        let tsa = Tsa::create(issuer.as_ref().map(|(c, k)| (c, k)))?;
        let key_pem = tsa.key.private_key_to_pem_pkcs8().map_err(TsaError::from)?;
        let cert_pem = tsa.certificate.to_pem().map_err(TsaError::from)?;
        match files::write_private(&key_path, &key_pem)
            .and_then(|()| files::write_new(&cert_path, &cert_pem))
        {
            Ok(()) => Ok(tsa),
            // Another process created it at the same moment: use theirs.
            Err(ConservationError::Exists(_)) => {
                std::thread::sleep(Duration::from_millis(200));
                Tsa::load(&cert_path, &key_path)
            }
            Err(error) => Err(error),
        }
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Tsa, ConservationError> {
        let certificate = X509::from_pem(&files::read(cert_path)?).map_err(TsaError::from)?;
        let key = PKey::private_key_from_pem(&files::read(key_path)?).map_err(TsaError::from)?;
        Ok(Tsa { certificate, key })
    }

    /// A new TSA key and certificate (10 years), issued by `issuer` or self-signed.
    pub fn create(issuer: Option<Issuer<'_>>) -> Result<Tsa, TsaError> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let name = tsa_name()?;
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        builder.set_serial_number(&*serial.to_asn1_integer()?)?;
        builder.set_subject_name(&name)?;
        let start = Timestamp::now().as_second() - 60;
        builder.set_not_before(&*Asn1Time::from_unix(start)?)?;
        builder.set_not_after(&*Asn1Time::from_unix(start + VALIDITY_SECS)?)?;
        builder.set_pubkey(&key)?;
        match issuer {
            Some((ca, _)) => builder.set_issuer_name(ca.subject_name())?,
            None => builder.set_issuer_name(&name)?,
        }
        add_extensions(&mut builder, issuer)?;
        let signing_key = issuer.map_or(&key, |(_, k)| k);
        builder.sign(signing_key, MessageDigest::sha256())?;
        Ok(Tsa {
            certificate: builder.build(),
            key,
        })
    }

    /// The TSA certificate.
    pub fn certificate(&self) -> &X509 {
        &self.certificate
    }

    /// Answers a TimeStampReq with a granted TimeStampResp (a rejection, status 2, when
    /// the request does not parse or does not use SHA-256).
    pub fn respond(&self, request: &[u8], now: Timestamp) -> Result<Vec<u8>, TsaError> {
        let Ok(asked) = parse_request(request) else {
            return Ok(TimeStampResp {
                status: status(PkiStatus::Rejection),
                time_stamp_token: None,
            }
            .to_der()?);
        };
        let info = TstInfo {
            version: TspVersion::V1,
            policy: DEV_POLICY,
            message_imprint: asked.imprint,
            serial_number: random_serial()?,
            gen_time: generalized_time(now)?,
            accuracy: None,
            ordering: false,
            nonce: asked.nonce,
            tsa: None,
            extensions: None,
        };
        let token = self.sign_token(&info.to_der()?)?;
        Ok(TimeStampResp {
            status: status(PkiStatus::Accepted),
            time_stamp_token: Some(token),
        }
        .to_der()?)
    }

    /// The ContentInfo(SignedData) over a DER TSTInfo.
    fn sign_token(&self, tst_info: &[u8]) -> Result<ContentInfo, TsaError> {
        let cert_der = self.certificate.to_der()?;
        let certificate = Certificate::from_der(&cert_der)?;
        let attributes = signed_attributes(&certificate, &cert_der, tst_info)?;
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: certificate.tbs_certificate.issuer.clone(),
                serial_number: certificate.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: asn1::algorithm(asn1::SHA256),
            signature: OctetString::new(self.sign(&attributes.to_der()?)?)?,
            signed_attrs: Some(attributes),
            signature_algorithm: asn1::algorithm(asn1::RSA_ENCRYPTION),
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![asn1::algorithm(asn1::SHA256)])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: asn1::TST_INFO,
                econtent: Some(Any::new(Tag::OctetString, tst_info)?),
            },
            certificates: Some(CertificateSet(SetOfVec::try_from(vec![
                CertificateChoices::Certificate(certificate),
            ])?)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
        };
        Ok(ContentInfo {
            content_type: asn1::SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        })
    }

    /// RSA PKCS#1 v1.5 with SHA-256 over the DER SET OF signed attributes (RFC 5652 §5.4).
    fn sign(&self, signed_set: &[u8]) -> Result<Vec<u8>, TsaError> {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)?;
        signer.update(signed_set)?;
        Ok(signer.sign_to_vec()?)
    }
}

fn tsa_name() -> Result<X509Name, TsaError> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("C", "IT")?;
    name.append_entry_by_text("O", "pecd")?;
    name.append_entry_by_text("CN", "pecd built-in TSA")?;
    Ok(name.build())
}

/// keyUsage digitalSignature and extendedKeyUsage timeStamping, both critical (RFC 3161
/// §2.3), and the key identifiers.
fn add_extensions(builder: &mut X509Builder, issuer: Option<Issuer<'_>>) -> Result<(), TsaError> {
    let usage = KeyUsage::new().critical().digital_signature().build()?;
    builder.append_extension(usage)?;
    let eku = ExtendedKeyUsage::new().critical().time_stamping().build()?;
    builder.append_extension(eku)?;
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(issuer.map(|(ca, _)| &**ca), None))?;
    builder.append_extension(ski)?;
    if let Some((ca, _)) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(ca), None))?;
        builder.append_extension(aki)?;
    }
    Ok(())
}

fn status(status: PkiStatus) -> PkiStatusInfo<'static> {
    PkiStatusInfo {
        status,
        status_string: None,
        fail_info: None,
    }
}

/// A positive 128-bit serial number, random as RFC 3161 §2.4.2 allows.
fn random_serial() -> Result<Int, TsaError> {
    let mut serial = [0u8; 16];
    openssl::rand::rand_bytes(&mut serial)?;
    Ok(Int::from(Uint::new(&serial)?))
}

/// `now` to whole seconds, as the built-in TSA writes genTime.
fn generalized_time(now: Timestamp) -> Result<GeneralizedTime, TsaError> {
    let seconds = u64::try_from(now.as_second()).map_err(|_| TsaError::Clock)?;
    Ok(GeneralizedTime::from_unix_duration(Duration::from_secs(
        seconds,
    ))?)
}

/// contentType (id-ct-TSTInfo), messageDigest (of the TSTInfo) and
/// signingCertificateV2 naming the TSA certificate; DER sorts them as a SET OF.
fn signed_attributes(
    certificate: &Certificate,
    cert_der: &[u8],
    tst_info: &[u8],
) -> Result<SignedAttributes, TsaError> {
    let digest = OctetString::new(openssl::sha::sha256(tst_info).to_vec())?;
    let signing_certificate = asn1::SigningCertificateV2 {
        certs: vec![asn1::EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(openssl::sha::sha256(cert_der).to_vec())?,
            issuer_serial: Some(asn1::IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    certificate.tbs_certificate.issuer.clone(),
                )],
                serial_number: certificate.tbs_certificate.serial_number.clone(),
            }),
        }],
    };
    Ok(SetOfVec::try_from(vec![
        attribute(asn1::CONTENT_TYPE, Any::encode_from(&asn1::TST_INFO)?)?,
        attribute(asn1::MESSAGE_DIGEST, Any::encode_from(&digest)?)?,
        attribute(
            asn1::SIGNING_CERTIFICATE_V2,
            Any::encode_from(&signing_certificate)?,
        )?,
    ])?)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, TsaError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}
