//! How the tables name an address: the whole address lower-cased, made once where the
//! address enters the store. PEC compares addresses without regard to case (a login, a
//! RCPT TO and a daticert may spell one mailbox differently), and the tables have always
//! been keyed this way: a key's bytes must not change, or an existing store would no
//! longer find its records.

use std::fmt;

use crate::mail::address::Address;

/// An address as the tables key it: a mailbox hosted here, or the recipient a ledger
/// entry or a timer is about.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct AddressKey(String);

impl AddressKey {
    /// The key of `address` as written anywhere.
    pub fn new(address: &str) -> AddressKey {
        AddressKey(address.to_ascii_lowercase())
    }

    /// The key as the tables hold it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of one of this mailbox's folders: `address\0folder`. All the keys of a
    /// mailbox's folders start with `address\0`, so they are one range.
    pub fn folder(&self, folder: &str) -> String {
        format!("{}\0{folder}", self.0)
    }
}

impl From<&Address> for AddressKey {
    fn from(address: &Address) -> AddressKey {
        AddressKey::new(address.as_str())
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_whole_address_lower_cased() {
        let key = AddressKey::new("Alice.Rossi@PEC-A.test");
        assert_eq!(key.as_str(), "alice.rossi@pec-a.test");
        assert_eq!(key.folder("INBOX"), "alice.rossi@pec-a.test\0INBOX");
        let parsed = Address::parse("<Alice.Rossi@PEC-A.test>").unwrap();
        assert_eq!(AddressKey::from(&parsed), key);
    }
}
