//! Reading `daticert.xml` as real providers send it.

use super::Daticert;

/// Why a daticert.xml was rejected.
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
pub enum DaticertError {
    /// Placeholder until the parser lands.
    #[error("not yet implemented")]
    Unimplemented,
}

impl Daticert {
    /// Parses a daticert.xml document.
    pub fn parse(_xml: &[u8]) -> Result<Daticert, DaticertError> {
        Err(DaticertError::Unimplemented)
    }
}
