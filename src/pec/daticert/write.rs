//! Writing `daticert.xml` in the serialization real providers use.

use super::Daticert;

impl Daticert {
    /// Serializes the document.
    pub fn to_xml(&self) -> String {
        String::new()
    }
}
