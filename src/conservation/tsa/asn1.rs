//! The ASN.1 around time stamps that `x509-tsp` and `cms` do not define: the ESS
//! signing-certificate-v2 attribute (RFC 5035) the built-in TSA signs, and a TSTInfo
//! whose genTime keeps fractions of a second. RFC 3161 §2.4.2 allows them
//! (`YYYYMMDDhhmmss[.s...]Z`) and real TSAs send them, but `der`'s GeneralizedTime
//! is the certificate profile (RFC 5280: whole seconds) and refuses them, so the
//! TSTInfo of a response is read through [`StampedInfo`], not `x509_tsp::TstInfo`
//! (which also could not read policy OIDs with arcs over 28 bits).

use der::Any;
use der::DecodeValue;
use der::EncodeValue;
use der::FixedTag;
use der::Header;
use der::Length;
use der::Reader;
use der::Sequence;
use der::Tag;
use der::Tagged;
use der::Writer;
use der::asn1::Int;
use der::asn1::ObjectIdentifier;
use der::asn1::OctetString;
use der::oid::db::rfc5911;
use der::oid::db::rfc5912;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::name::GeneralNames;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::Accuracy;
use x509_tsp::MessageImprint;
use x509_tsp::TspVersion;

/// id-sha256.
pub const SHA256: ObjectIdentifier = rfc5912::ID_SHA_256;
/// rsaEncryption, the signature algorithm of the built-in TSA's SignerInfo.
pub const RSA_ENCRYPTION: ObjectIdentifier = rfc5912::RSA_ENCRYPTION;
/// id-signedData.
pub const SIGNED_DATA: ObjectIdentifier = rfc5911::ID_SIGNED_DATA;
/// id-ct-TSTInfo (RFC 3161 §2.4.2; not in the OID database).
pub const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// id-contentType.
pub const CONTENT_TYPE: ObjectIdentifier = rfc5911::ID_CONTENT_TYPE;
/// id-messageDigest.
pub const MESSAGE_DIGEST: ObjectIdentifier = rfc5911::ID_MESSAGE_DIGEST;
/// id-aa-signingCertificateV2.
pub const SIGNING_CERTIFICATE_V2: ObjectIdentifier = rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2;

/// An AlgorithmIdentifier with NULL parameters, as OpenSSL writes SHA-256 and RSA.
pub fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(der::Any::null()),
    }
}

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies … OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signer's certificate first.
    pub certs: Vec<EssCertIdV2>,
}

/// `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash, issuerSerial OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// Absent means SHA-256 (DER omits a default value).
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// The hash of the whole certificate.
    pub cert_hash: OctetString,
    /// Which certificate, by its issuer and serial number.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The issuer as a directoryName.
    pub issuer: GeneralNames,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

/// A genTime as RFC 3161 writes it: `YYYYMMDDhhmmss`, optional fraction, `Z`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GenTime(String);

impl GenTime {
    /// The time as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn is_valid(text: &[u8]) -> bool {
        let Some((seconds, rest)) = text.split_at_checked(14) else {
            return false;
        };
        let fraction = match rest {
            [b'Z'] => &[][..],
            [b'.', digits @ .., b'Z'] if !digits.is_empty() => digits,
            _ => return false,
        };
        seconds.iter().chain(fraction).all(u8::is_ascii_digit)
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length)?;
        if !GenTime::is_valid(&bytes) {
            return Err(Self::TAG.value_error());
        }
        String::from_utf8(bytes)
            .map(GenTime)
            .map_err(|_| Self::TAG.value_error())
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0.as_bytes())
    }
}

/// A TSTInfo (RFC 3161 §2.4.2) as a TSA sent it: `x509_tsp::TstInfo` field by field,
/// with the genTime of [`GenTime`].
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct StampedInfo {
    /// v1.
    pub version: TspVersion,
    /// The TSA's policy, an OBJECT IDENTIFIER kept as it came: policy OIDs may have
    /// arcs wider than `der`'s ObjectIdentifier reads (the built-in TSA's own, or the
    /// UUID arcs under 2.25), and nothing here depends on which policy it is.
    pub policy: Any,
    /// The hash of what was stamped.
    pub message_imprint: MessageImprint,
    /// The token's serial number.
    pub serial_number: Int,
    /// When.
    pub gen_time: GenTime,
    /// How precisely.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Whether tokens of this TSA are ordered by genTime alone.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The request's nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// Whether `policy` is an OBJECT IDENTIFIER.
pub fn is_oid(policy: &Any) -> bool {
    policy.tag() == Tag::ObjectIdentifier
}

#[cfg(test)]
mod tests {
    use der::Decode;
    use der::Encode;

    use super::*;

    #[test]
    fn gen_times_with_and_without_fractions() {
        for good in [
            "20261207003700Z",
            "20261207003700.5Z",
            "20261207003700.125Z",
        ] {
            let time = GenTime(good.to_string());
            let der = time.to_der().unwrap();
            assert_eq!(GenTime::from_der(&der).unwrap().as_str(), good);
        }
        for bad in [
            "20261207003700",
            "2026120700370Z",
            "20261207003700.Z",
            "2026120700370aZ",
        ] {
            let der = GenTime(bad.to_string()).to_der().unwrap();
            assert!(GenTime::from_der(&der).is_err(), "{bad}");
        }
    }
}
