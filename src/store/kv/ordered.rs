//! Keys as bytes whose order is the keys' order, for engines that compare keys byte by
//! byte: integers big-endian, strings with their zero bytes escaped and a terminator
//! that sorts before any character, tuples as their parts in a row.

use redb::Key;
use redb::Value;

use crate::store::StoreError;

/// A key type with an order-preserving encoding beside redb's own.
pub(crate) trait OrderedKey: Key + 'static {
    /// The key's bytes in an order byte-wise comparison keeps.
    fn ordered(key: &Self::SelfType<'_>) -> Vec<u8>;

    /// redb's bytes of the key `ordered` encodes.
    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// Ends a string inside an ordered key: sorts before every escaped or plain byte.
const END: [u8; 2] = [0, 1];
/// A zero byte of the string.
const ZERO: [u8; 2] = [0, 0xff];

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("ordered key: {what}"))
}

fn push_str(out: &mut Vec<u8>, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            0 => out.extend_from_slice(&ZERO),
            other => out.push(other),
        }
    }
    out.extend_from_slice(&END);
}

/// The string at the start of `bytes` and what follows it.
fn take_str(bytes: &[u8]) -> Result<(String, &[u8]), StoreError> {
    let mut text = Vec::new();
    let mut at = 0;
    loop {
        match bytes.get(at..) {
            Some([0, 1, ..]) => break,
            Some([0, 0xff, ..]) => {
                text.push(0);
                at += 2;
            }
            Some([0, ..]) | Some([]) | None => return Err(corrupt("unterminated string")),
            Some([byte, ..]) => {
                text.push(*byte);
                at += 1;
            }
        }
    }
    let text = String::from_utf8(text).map_err(|_| corrupt("not UTF-8"))?;
    Ok((text, &bytes[at + END.len()..]))
}

fn take_array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt("integer of the wrong length"))
}

impl OrderedKey for u64 {
    fn ordered(key: &u64) -> Vec<u8> {
        key.to_be_bytes().to_vec()
    }

    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(<u64 as Value>::as_bytes(&u64::from_be_bytes(take_array(ordered)?)).to_vec())
    }
}

impl OrderedKey for u32 {
    fn ordered(key: &u32) -> Vec<u8> {
        key.to_be_bytes().to_vec()
    }

    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(<u32 as Value>::as_bytes(&u32::from_be_bytes(take_array(ordered)?)).to_vec())
    }
}

/// A string alone needs no terminator: its bytes already sort as the string does.
impl OrderedKey for &'static str {
    fn ordered(key: &&str) -> Vec<u8> {
        key.as_bytes().to_vec()
    }

    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError> {
        std::str::from_utf8(ordered).map_err(|_| corrupt("not UTF-8"))?;
        Ok(ordered.to_vec())
    }
}

impl OrderedKey for (&'static str, u32) {
    fn ordered((text, n): &(&str, u32)) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 6);
        push_str(&mut out, text);
        out.extend_from_slice(&n.to_be_bytes());
        out
    }

    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (text, rest) = take_str(ordered)?;
        let n = u32::from_be_bytes(take_array(rest)?);
        Ok(<(&str, u32) as Value>::as_bytes(&(text.as_str(), n)))
    }
}

impl OrderedKey for (&'static str, u64) {
    fn ordered((text, n): &(&str, u64)) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 10);
        push_str(&mut out, text);
        out.extend_from_slice(&n.to_be_bytes());
        out
    }

    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (text, rest) = take_str(ordered)?;
        let n = u64::from_be_bytes(take_array(rest)?);
        Ok(<(&str, u64) as Value>::as_bytes(&(text.as_str(), n)))
    }
}

impl OrderedKey for (&'static str, &'static str) {
    fn ordered((first, second): &(&str, &str)) -> Vec<u8> {
        let mut out = Vec::with_capacity(first.len() + second.len() + 4);
        push_str(&mut out, first);
        push_str(&mut out, second);
        out
    }

    fn native(ordered: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (first, rest) = take_str(ordered)?;
        let (second, rest) = take_str(rest)?;
        if !rest.is_empty() {
            return Err(corrupt("bytes after the key"));
        }
        Ok(<(&str, &str) as Value>::as_bytes(&(
            first.as_str(),
            second.as_str(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting by the ordered bytes gives redb's order, and every encoding comes back.
    fn keeps_order<K: OrderedKey>(keys: &[K::SelfType<'_>]) {
        let mut by_bytes: Vec<Vec<u8>> = keys.iter().map(|k| K::ordered(k)).collect();
        by_bytes.sort();
        let mut natives: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| K::as_bytes(k).as_ref().to_vec())
            .collect();
        natives.sort_by(|a, b| K::compare(a, b));
        let decoded: Vec<Vec<u8>> = by_bytes.iter().map(|b| K::native(b).unwrap()).collect();
        assert_eq!(decoded, natives);
    }

    #[test]
    fn integers_sort_as_numbers() {
        keeps_order::<u64>(&[0, 1, 255, 256, u64::MAX, 1 << 40]);
        keeps_order::<u32>(&[0, 1, 255, 256, u32::MAX]);
    }

    #[test]
    fn strings_and_tuples_sort_as_redb_sorts_them() {
        let texts = ["", "a", "a\0", "a\0b", "ab", "b", "\0", "à", "a\u{1}"];
        keeps_order::<&str>(&texts);
        let pairs: Vec<(&str, u32)> = texts
            .iter()
            .flat_map(|t| [(*t, 0), (*t, 7), (*t, u32::MAX)])
            .collect();
        keeps_order::<(&str, u32)>(&pairs);
        let longs: Vec<(&str, u64)> = texts.iter().map(|t| (*t, 1 << 33)).collect();
        keeps_order::<(&str, u64)>(&longs);
        let both: Vec<(&str, &str)> = texts
            .iter()
            .flat_map(|a| texts.iter().map(move |b| (*a, *b)))
            .collect();
        keeps_order::<(&str, &str)>(&both);
    }

    #[test]
    fn damaged_keys_are_errors() {
        assert!(<(&str, u32)>::native(b"abc").is_err());
        assert!(<(&str, u32)>::native(&[b'a', 0, 1, 9]).is_err());
        assert!(<(&str, &str)>::native(&[b'a', 0, 1, b'b', 0, 1, 5]).is_err());
        assert!(u64::native(&[1, 2]).is_err());
        assert!(<&str>::native(&[0xff]).is_err());
    }
}
