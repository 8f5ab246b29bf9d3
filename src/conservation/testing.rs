//! Test fixtures: one dev CA, a signer it issued, and a built-in TSA it issued.

use std::sync::OnceLock;

use crate::conservation::tsa::Tsa;
use crate::crypto::certs;
use crate::crypto::certs::Issued;
use crate::crypto::identity::Signer;

/// The shared PKI.
pub struct Pki {
    /// The CA.
    pub ca: Issued,
    /// A provider signer.
    pub signer: Signer,
    /// The TSA.
    pub tsa: Tsa,
}

/// Built once per test binary (RSA key generation is slow).
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = certs::dev_ca("Gestore A", 2048).unwrap();
        let leaf = certs::signing_certificate(&ca, "pec-a.test", "Gestore A", 2048).unwrap();
        let signer = Signer::new(leaf.certificate, leaf.key, Vec::new()).unwrap();
        let tsa = Tsa::create(Some((&ca.certificate, &ca.key))).unwrap();
        Pki { ca, signer, tsa }
    })
}
