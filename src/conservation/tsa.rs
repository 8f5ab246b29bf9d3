//! RFC 3161 time stamps: the request we send, the built-in time-stamping authority
//! (its own key and a certificate with extendedKeyUsage critical timeStamping) used in
//! development and tests, a plain-HTTP client for a configured TSA, and the check of a
//! stored response (`openssl ts -verify` accepts what [`Tsa::respond`] writes).
//!
//! The token is a CMS SignedData over a TSTInfo with the signed attributes contentType,
//! messageDigest and signingCertificateV2 (RFC 5816), built in DER by hand because
//! rust-openssl has no TS API; the RSA signature itself is OpenSSL's.

use std::io::Read;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::bn::MsbOption;
use openssl::cms::CMSOptions;
use openssl::cms::CmsContentInfo;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::X509Builder;
use openssl::x509::X509NameBuilder;
use openssl::x509::extension::AuthorityKeyIdentifier;
use openssl::x509::extension::ExtendedKeyUsage;
use openssl::x509::extension::KeyUsage;
use openssl::x509::extension::SubjectKeyIdentifier;
use openssl::x509::store::X509StoreBuilder;

use crate::conservation::ConservationError;
use crate::conservation::der;
use crate::conservation::files;

const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
/// The policy of the built-in TSA: a development policy, not a qualified one.
pub const DEV_POLICY: &str = "2.25.2026112201";

/// A TimeStampReq (DER) for the SHA-256 of `data`, asking for the TSA certificate.
pub fn request(data: &[u8], nonce: u64) -> Result<Vec<u8>, ConservationError> {
    let imprint = imprint(&openssl::sha::sha256(data))?;
    Ok(der::sequence(&[
        &der::small(1),
        &imprint,
        &der::small(nonce),
        &der::tlv(der::BOOLEAN, &[0xff]),
    ]))
}

fn imprint(digest: &[u8]) -> Result<Vec<u8>, ConservationError> {
    Ok(der::sequence(&[
        &algorithm(SHA256)?,
        &der::tlv(der::OCTET_STRING, digest),
    ]))
}

fn algorithm(dotted: &str) -> Result<Vec<u8>, ConservationError> {
    der::algorithm(dotted).ok_or_else(|| ConservationError::Timestamp(format!("bad OID {dotted}")))
}

fn oid(dotted: &str) -> Result<Vec<u8>, ConservationError> {
    der::oid(dotted).ok_or_else(|| ConservationError::Timestamp(format!("bad OID {dotted}")))
}

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

impl Tsa {
    /// Loads the TSA from `dir/tsa.pem` + `dir/tsa.key`, creating them on first use:
    /// issued by the dev CA when its certificate and key are given and readable,
    /// self-signed otherwise.
    pub fn ensure(dir: &Path, ca: Option<(&Path, &Path)>) -> Result<Tsa, ConservationError> {
        let cert_path = dir.join("tsa.pem");
        let key_path = dir.join("tsa.key");
        if cert_path.exists() && key_path.exists() {
            let certificate = X509::from_pem(&files::read(&cert_path)?).map_err(ssl)?;
            let key = PKey::private_key_from_pem(&files::read(&key_path)?).map_err(ssl)?;
            return Ok(Tsa { certificate, key });
        }
        let issuer = ca.and_then(|(cert, key)| {
            let cert = X509::from_pem(&std::fs::read(cert).ok()?).ok()?;
            let key = PKey::private_key_from_pem(&std::fs::read(key).ok()?).ok()?;
            Some((cert, key))
        });
        let tsa = Tsa::create(issuer.as_ref().map(|(c, k)| (c, k)))?;
        let key_pem = tsa.key.private_key_to_pem_pkcs8().map_err(ssl)?;
        let cert_pem = tsa.certificate.to_pem().map_err(ssl)?;
        match files::write_private(&key_path, &key_pem)
            .and_then(|()| files::write_new(&cert_path, &cert_pem))
        {
            Ok(()) => Ok(tsa),
            // Another process created it at the same moment: use theirs.
            Err(ConservationError::Exists(_)) => {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let certificate = X509::from_pem(&files::read(&cert_path)?).map_err(ssl)?;
                let key = PKey::private_key_from_pem(&files::read(&key_path)?).map_err(ssl)?;
                Ok(Tsa { certificate, key })
            }
            Err(error) => Err(error),
        }
    }

    /// A new TSA key and certificate (10 years), issued by `issuer` or self-signed.
    pub fn create(issuer: Option<(&X509, &PKey<Private>)>) -> Result<Tsa, ConservationError> {
        let key = PKey::from_rsa(Rsa::generate(2048).map_err(ssl)?).map_err(ssl)?;
        let mut name = X509NameBuilder::new().map_err(ssl)?;
        name.append_entry_by_text("C", "IT").map_err(ssl)?;
        name.append_entry_by_text("O", "pecd").map_err(ssl)?;
        name.append_entry_by_text("CN", "pecd built-in TSA")
            .map_err(ssl)?;
        let name = name.build();
        let mut builder = X509Builder::new().map_err(ssl)?;
        builder.set_version(2).map_err(ssl)?;
        let mut serial = BigNum::new().map_err(ssl)?;
        serial
            .rand(127, MsbOption::MAYBE_ZERO, false)
            .map_err(ssl)?;
        let serial = serial.to_asn1_integer().map_err(ssl)?;
        builder.set_serial_number(&serial).map_err(ssl)?;
        builder.set_subject_name(&name).map_err(ssl)?;
        let start = Timestamp::now().as_second() - 60;
        let not_before = Asn1Time::from_unix(start).map_err(ssl)?;
        let not_after = Asn1Time::from_unix(start + 3653 * 86_400).map_err(ssl)?;
        builder.set_not_before(&not_before).map_err(ssl)?;
        builder.set_not_after(&not_after).map_err(ssl)?;
        builder.set_pubkey(&key).map_err(ssl)?;
        match issuer {
            Some((ca, _)) => builder.set_issuer_name(ca.subject_name()).map_err(ssl)?,
            None => builder.set_issuer_name(&name).map_err(ssl)?,
        }
        let usage = KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .map_err(ssl)?;
        builder.append_extension(usage).map_err(ssl)?;
        let eku = ExtendedKeyUsage::new()
            .critical()
            .time_stamping()
            .build()
            .map_err(ssl)?;
        builder.append_extension(eku).map_err(ssl)?;
        let ski = SubjectKeyIdentifier::new()
            .build(&builder.x509v3_context(issuer.map(|(ca, _)| &**ca), None))
            .map_err(ssl)?;
        builder.append_extension(ski).map_err(ssl)?;
        if let Some((ca, _)) = issuer {
            let aki = AuthorityKeyIdentifier::new()
                .keyid(true)
                .build(&builder.x509v3_context(Some(ca), None))
                .map_err(ssl)?;
            builder.append_extension(aki).map_err(ssl)?;
        }
        let signing_key = issuer.map_or(&key, |(_, k)| k);
        builder
            .sign(signing_key, MessageDigest::sha256())
            .map_err(ssl)?;
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
    pub fn respond(&self, request: &[u8], now: Timestamp) -> Result<Vec<u8>, ConservationError> {
        let Some((imprint, nonce)) = parse_request(request) else {
            return Ok(der::sequence(&[&der::sequence(&[&der::small(2)])]));
        };
        let mut serial = [0u8; 16];
        openssl::rand::rand_bytes(&mut serial).map_err(ssl)?;
        let time = now.strftime("%Y%m%d%H%M%SZ").to_string();
        let mut fields: Vec<Vec<u8>> = vec![
            der::small(1),
            oid(DEV_POLICY)?,
            imprint.to_vec(),
            der::unsigned(&serial),
            der::tlv(der::GENERALIZED_TIME, time.as_bytes()),
        ];
        if let Some(nonce) = nonce {
            fields.push(nonce.to_vec());
        }
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let tst_info = der::sequence(&refs);
        let token = self.sign_token(&tst_info)?;
        Ok(der::sequence(&[&der::sequence(&[&der::small(0)]), &token]))
    }

    /// The ContentInfo(SignedData) over a TSTInfo.
    fn sign_token(&self, tst_info: &[u8]) -> Result<Vec<u8>, ConservationError> {
        let cert_der = self.certificate.to_der().map_err(ssl)?;
        let issuer = self.certificate.issuer_name().to_der().map_err(ssl)?;
        let serial = self
            .certificate
            .serial_number()
            .to_bn()
            .map_err(ssl)?
            .to_vec();
        let issuer_serial = der::sequence(&[&issuer, &der::unsigned(&serial)]);
        // ESSCertIDv2 with the default hash (SHA-256) omitted; issuerSerial names the cert
        // as a GeneralNames [4] directoryName.
        let general_names = der::sequence(&[&der::context(4, &issuer)]);
        let ess_issuer_serial = der::sequence(&[&general_names, &der::unsigned(&serial)]);
        let cert_id = der::sequence(&[
            &der::tlv(der::OCTET_STRING, &openssl::sha::sha256(&cert_der)),
            &ess_issuer_serial,
        ]);
        let signing_cert = der::sequence(&[&der::sequence(&[&cert_id])]);
        let attributes = [
            der::sequence(&[&oid(CONTENT_TYPE)?, &der::set_of(&[&oid(TST_INFO)?])]),
            der::sequence(&[
                &oid(MESSAGE_DIGEST)?,
                &der::set_of(&[&der::tlv(
                    der::OCTET_STRING,
                    &openssl::sha::sha256(tst_info),
                )]),
            ]),
            der::sequence(&[
                &oid(SIGNING_CERTIFICATE_V2)?,
                &der::set_of(&[&signing_cert]),
            ]),
        ];
        let refs: Vec<&[u8]> = attributes.iter().map(Vec::as_slice).collect();
        let signed_set = der::set_of(&refs);
        let mut signer =
            openssl::sign::Signer::new(MessageDigest::sha256(), &self.key).map_err(ssl)?;
        signer.update(&signed_set).map_err(ssl)?;
        let signature = signer.sign_to_vec().map_err(ssl)?;
        // In the SignerInfo the attributes are [0] IMPLICIT: same content, other tag.
        let signed_attrs = der::tlv(
            0xa0,
            signed_set.get(header_len(&signed_set)..).unwrap_or(&[]),
        );
        let signer_info = der::sequence(&[
            &der::small(1),
            &issuer_serial,
            &algorithm(SHA256)?,
            &signed_attrs,
            &algorithm(RSA_ENCRYPTION)?,
            &der::tlv(der::OCTET_STRING, &signature),
        ]);
        let encap = der::sequence(&[
            &oid(TST_INFO)?,
            &der::context(0, &der::tlv(der::OCTET_STRING, tst_info)),
        ]);
        let signed_data = der::sequence(&[
            &der::small(3),
            &der::set_of(&[&algorithm(SHA256)?]),
            &encap,
            &der::context(0, &cert_der),
            &der::set_of(&[&signer_info]),
        ]);
        Ok(der::sequence(&[
            &oid(SIGNED_DATA)?,
            &der::context(0, &signed_data),
        ]))
    }
}

fn header_len(encoded: &[u8]) -> usize {
    match encoded.get(1) {
        Some(b) if *b < 0x80 => 2,
        Some(b) => 2 + usize::from(b & 0x7f),
        None => 0,
    }
}

/// The raw MessageImprint and nonce of a TimeStampReq; `None` unless it is SHA-256.
pub(crate) fn parse_request(request: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let mut outer = der::Reader::new(request);
    let mut fields = outer.expect(der::SEQUENCE)?.children();
    fields.expect(der::INTEGER)?;
    let imprint = fields.expect(der::SEQUENCE)?;
    let mut parts = imprint.children();
    let mut alg = parts.expect(der::SEQUENCE)?.children();
    if der::oid_text(alg.expect(der::OID)?.content)? != SHA256 {
        return None;
    }
    if parts.expect(der::OCTET_STRING)?.content.len() != 32 {
        return None;
    }
    fields.optional(der::OID);
    let nonce = fields.optional(der::INTEGER).map(|e| e.raw);
    Some((imprint.raw, nonce))
}

/// Where time stamps come from.
#[derive(Debug)]
pub enum TimeSource {
    /// The built-in TSA.
    Builtin(Tsa),
    /// A TSA at this `http://host[:port]/path` URL (application/timestamp-query).
    Remote(String),
}

impl TimeSource {
    /// A TimeStampResp (DER) over `data`.
    pub fn stamp(&self, data: &[u8], now: Timestamp) -> Result<Vec<u8>, ConservationError> {
        let mut nonce = [0u8; 8];
        openssl::rand::rand_bytes(&mut nonce).map_err(ssl)?;
        let request = request(data, u64::from_be_bytes(nonce) >> 1)?;
        match self {
            TimeSource::Builtin(tsa) => tsa.respond(&request, now),
            TimeSource::Remote(url) => post(url, &request),
        }
    }
}

/// POSTs a request to a plain-HTTP TSA and returns the response body.
fn post(url: &str, request: &[u8]) -> Result<Vec<u8>, ConservationError> {
    let fail = |what: String| ConservationError::Timestamp(format!("TSA {url}: {what}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| fail("only http:// URLs are supported".into()))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(&address).map_err(|e| fail(e.to_string()))?;
    let timeout = Some(Duration::from_secs(30));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/timestamp-query\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        request.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(request))
        .map_err(|e| fail(e.to_string()))?;
    let mut reply = Vec::new();
    stream
        .take(16 * 1024 * 1024)
        .read_to_end(&mut reply)
        .map_err(|e| fail(e.to_string()))?;
    let split =
        memchr::memmem::find(&reply, b"\r\n\r\n").ok_or_else(|| fail("no HTTP reply".into()))?;
    let status = String::from_utf8_lossy(reply.get(..split).unwrap_or_default()).to_string();
    let first = status.lines().next().unwrap_or_default();
    if first.split(' ').nth(1) != Some("200") {
        return Err(fail(first.to_string()));
    }
    Ok(reply.get(split + 4..).unwrap_or_default().to_vec())
}

/// What a verified time stamp says.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Stamped {
    /// genTime, as written (`YYYYMMDDhhmmss[.f]Z`).
    pub time: String,
}

/// Checks a TimeStampResp over `data`: granted, signed by `tsa` (whose certificate must
/// chain to one of `anchors` when any are given), and its imprint is the SHA-256 of `data`.
pub fn verify(
    response: &[u8],
    data: &[u8],
    tsa: &X509,
    anchors: &[X509],
) -> Result<Stamped, String> {
    let mut outer = der::Reader::new(response);
    let mut fields = outer
        .expect(der::SEQUENCE)
        .ok_or("not a TimeStampResp")?
        .children();
    let mut status = fields.expect(der::SEQUENCE).ok_or("no status")?.children();
    let code = status.expect(der::INTEGER).ok_or("no status")?;
    if code.content != [0] && code.content != [1] {
        return Err("the TSA did not grant the time stamp".into());
    }
    let token = fields.expect(der::SEQUENCE).ok_or("no token")?;
    let mut cms = CmsContentInfo::from_der(token.raw).map_err(|e| format!("token: {e}"))?;
    let mut certs = Stack::new().map_err(|e| e.to_string())?;
    certs.push(tsa.clone()).map_err(|e| e.to_string())?;
    let mut tst_info = Vec::new();
    cms.verify(
        Some(&certs),
        None,
        None,
        Some(&mut tst_info),
        CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(|e| format!("token signature does not verify: {e}"))?;
    if !anchors.is_empty() {
        chain_check(tsa, anchors)?;
    }
    let (digest, time) = parse_tst_info(&tst_info).ok_or("TSTInfo does not parse")?;
    if digest != openssl::sha::sha256(data) {
        return Err("the time stamp is over other data".into());
    }
    Ok(Stamped { time })
}

fn chain_check(certificate: &X509, anchors: &[X509]) -> Result<(), String> {
    let mut store = X509StoreBuilder::new().map_err(|e| e.to_string())?;
    for anchor in anchors {
        store.add_cert(anchor.clone()).map_err(|e| e.to_string())?;
    }
    let store = store.build();
    let chain = Stack::new().map_err(|e| e.to_string())?;
    let mut context = openssl::x509::X509StoreContext::new().map_err(|e| e.to_string())?;
    let ok = context
        .init(&store, certificate, &chain, |c| c.verify_cert())
        .map_err(|e| e.to_string())?;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the TSA certificate does not chain to the CA: {}",
            context.error()
        ))
    }
}

/// The SHA-256 imprint and genTime of a TSTInfo.
pub(crate) fn parse_tst_info(bytes: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut outer = der::Reader::new(bytes);
    let mut fields = outer.expect(der::SEQUENCE)?.children();
    fields.expect(der::INTEGER)?;
    fields.expect(der::OID)?;
    let mut imprint = fields.expect(der::SEQUENCE)?.children();
    let mut alg = imprint.expect(der::SEQUENCE)?.children();
    if der::oid_text(alg.expect(der::OID)?.content)? != SHA256 {
        return None;
    }
    let digest = imprint.expect(der::OCTET_STRING)?.content.to_vec();
    fields.expect(der::INTEGER)?;
    let time = fields.expect(der::GENERALIZED_TIME)?;
    Some((digest, String::from_utf8_lossy(time.content).to_string()))
}

fn ssl(error: openssl::error::ErrorStack) -> ConservationError {
    ConservationError::Crypto(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_tsa_stamps_and_verifies() {
        let tsa = Tsa::create(None).unwrap();
        let cert = tsa.certificate().clone();
        let source = TimeSource::Builtin(tsa);
        let response = source.stamp(b"hello", Timestamp::now()).unwrap();
        let stamped = verify(&response, b"hello", &cert, std::slice::from_ref(&cert)).unwrap();
        assert!(stamped.time.ends_with('Z'));
        assert!(verify(&response, b"other", &cert, &[]).is_err());
        let other = Tsa::create(None).unwrap();
        assert!(verify(&response, b"hello", other.certificate(), &[]).is_err());
    }

    #[test]
    fn garbage_requests_are_rejected_not_panicked() {
        let tsa = Tsa::create(None).unwrap();
        let reply = tsa.respond(b"\x30\x03\x02\x01", Timestamp::now()).unwrap();
        assert_eq!(reply, vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]);
        assert!(verify(&reply, b"x", tsa.certificate(), &[]).is_err());
    }

    /// A one-shot HTTP TSA on loopback answering with the built-in authority.
    fn serve_once(tsa: Tsa) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..n]);
                if let Some(end) = memchr::memmem::find(&request, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                    assert!(head.contains("content-type: application/timestamp-query"));
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    if request.len() >= end + 4 + length {
                        let body = &request[end + 4..end + 4 + length];
                        let reply = tsa.respond(body, Timestamp::now()).unwrap();
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\n\r\n",
                            reply.len()
                        );
                        stream.write_all(head.as_bytes()).unwrap();
                        stream.write_all(&reply).unwrap();
                        return;
                    }
                }
            }
        });
        format!("http://{address}/tsa")
    }

    #[test]
    fn a_remote_tsa_is_asked_over_http() {
        let tsa = Tsa::create(None).unwrap();
        let cert = tsa.certificate().clone();
        let source = TimeSource::Remote(serve_once(tsa));
        let response = source.stamp(b"indice", Timestamp::now()).unwrap();
        verify(&response, b"indice", &cert, std::slice::from_ref(&cert)).unwrap();
        let nowhere = TimeSource::Remote("http://127.0.0.1:9/".into());
        assert!(nowhere.stamp(b"x", Timestamp::now()).is_err());
        assert!(
            TimeSource::Remote("https://tsa.example/".into())
                .stamp(b"x", Timestamp::now())
                .is_err()
        );
    }
}
