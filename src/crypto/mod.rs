//! Cryptography: S/MIME signing and verification of PEC messages, the provider's signing
//! identity, development certificates and the trust material (providers index, anchors).

pub mod bounds;
pub mod certs;
pub mod identity;
pub mod smime;
pub mod trust;
pub mod validation;
