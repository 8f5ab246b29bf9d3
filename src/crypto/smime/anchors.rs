//! Trust anchors for the chain check of [`super::verify`] (pec.md §8 step 3): CA
//! certificates, or the providers' own signing certificates from the providers index
//! (RFC 6109 §4.5), which PARTIAL_CHAIN lets stand as anchors by themselves.

use std::fmt;
use std::fs;
use std::path::Path;

use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::X509PurposeId;
use openssl::x509::X509Ref;
use openssl::x509::X509StoreContext;
use openssl::x509::store::X509Store;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::verify::X509VerifyParam;

use super::ChainStatus;
use super::SmimeError;

/// Trust anchors for the chain check: CA certificates, or the providers' own signing
/// certificates taken from the index (a partial chain ending at any anchor is trusted).
/// The check also applies OpenSSL's S/MIME signing purpose (keyUsage, and
/// extendedKeyUsage emailProtection where present), as `openssl smime -verify` does.
pub struct Anchors {
    store: X509Store,
}

impl Anchors {
    /// No anchors: every chain is untrusted.
    pub fn empty() -> Result<Anchors, SmimeError> {
        Anchors::from_certificates(Vec::new())
    }

    /// Anchors read from PEM files, each holding one or more certificates.
    pub fn from_pem_files(paths: &[&Path]) -> Result<Anchors, SmimeError> {
        let mut certificates = Vec::new();
        for path in paths {
            let pem = fs::read(path).map_err(|source| SmimeError::ReadAnchors {
                path: path.to_path_buf(),
                source,
            })?;
            let parsed = X509::stack_from_pem(&pem).unwrap_or_default();
            if parsed.is_empty() {
                return Err(SmimeError::ParseAnchors {
                    path: path.to_path_buf(),
                });
            }
            certificates.extend(parsed);
        }
        Anchors::from_certificates(certificates)
    }

    /// Anchors from certificates already parsed (a CA, or the providers index's
    /// `providerCertificate` values).
    pub fn from_certificates(certificates: Vec<X509>) -> Result<Anchors, SmimeError> {
        let mut param = X509VerifyParam::new().map_err(SmimeError::Store)?;
        // PARTIAL_CHAIN: an index certificate is a leaf, trusted as it stands.
        // NO_CHECK_TIME: expiry is a separate fact of the report; the chain question is
        // only "does it lead to an anchor".
        param
            .set_flags(X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::NO_CHECK_TIME)
            .map_err(SmimeError::Store)?;
        param
            .set_purpose(X509PurposeId::SMIME_SIGN)
            .map_err(SmimeError::Store)?;
        // Level 0 (no key-size or digest floor), stated rather than inherited: the
        // certificates of signatures still to be checked include RSA-1024/SHA-1 ones
        // (Aruba 2014, pec.md §9). OpenSSL's default for a bare store is the same.
        param.set_auth_level(0);
        let mut builder = X509StoreBuilder::new().map_err(SmimeError::Store)?;
        builder.set_param(&param).map_err(SmimeError::Store)?;
        for certificate in certificates {
            builder.add_cert(certificate).map_err(SmimeError::Store)?;
        }
        Ok(Anchors {
            store: builder.build(),
        })
    }

    /// How many anchor certificates the store holds.
    pub fn len(&self) -> usize {
        self.store.all_certificates().len()
    }

    /// Whether the store holds no anchor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `signer` chains to an anchor, with the `embedded` certificates of the
    /// signature as untrusted intermediates; time is not checked.
    pub(super) fn chain_status(&self, signer: &X509Ref, embedded: &[X509]) -> ChainStatus {
        let outcome = (|| {
            let mut untrusted = Stack::new()?;
            for certificate in embedded {
                untrusted.push(certificate.clone())?;
            }
            let mut context = X509StoreContext::new()?;
            context.init(&self.store, signer, &untrusted, |context| {
                let trusted = context.verify_cert()?;
                Ok((trusted, context.error(), context.error_depth()))
            })
        })();
        match outcome {
            Ok((true, _, _)) => ChainStatus::Trusted,
            Ok((false, error, depth)) => {
                untrusted(&format!("{} (at depth {depth})", error.error_string()))
            }
            Err(errors) => untrusted(&format!("chain check failed: {errors}")),
        }
    }
}

impl fmt::Debug for Anchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anchors")
            .field("certificates", &self.len())
            .finish()
    }
}

fn untrusted(reason: &str) -> ChainStatus {
    ChainStatus::Untrusted {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::pki;
    use super::*;

    #[test]
    fn anchors_load_from_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let empty = dir.path().join("empty.pem");
        fs::write(&ca, pki().ca.certificate_pem().unwrap()).unwrap();
        fs::write(&empty, b"no certificates here").unwrap();

        let anchors = Anchors::from_pem_files(&[&ca]).unwrap();
        assert_eq!(anchors.len(), 1);
        assert!(Anchors::empty().unwrap().is_empty());
        let error = Anchors::from_pem_files(&[&ca, &empty]).unwrap_err();
        assert!(matches!(error, SmimeError::ParseAnchors { .. }), "{error}");
        let error = Anchors::from_pem_files(&[&dir.path().join("none.pem")]).unwrap_err();
        assert!(matches!(error, SmimeError::ReadAnchors { .. }), "{error}");
    }
}
