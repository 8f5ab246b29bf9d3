//! The token of a one-time link: 128 random bits, written in the link as 32 lower-case
//! hex digits. It reaches the holder only inside the mail; the store keeps its SHA-256
//! ([`LinkDigest`]), so whoever reads the store cannot use a link.

use crate::store::links::LinkDigest;

/// The length of a token as the link writes it.
pub const TOKEN_CHARS: usize = 32;

/// A link's token.
#[derive(Clone, Eq, PartialEq)]
pub struct Token([u8; 16]);

/// Why a string is not a token.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum TokenError {
    /// Not 32 lower-case hex digits.
    #[error("not a link token")]
    Malformed,
    /// The system gave no randomness.
    #[error("no randomness for a link token")]
    Randomness,
}

impl Token {
    /// A fresh token from the system's random generator.
    pub fn generate() -> Result<Token, TokenError> {
        let mut bytes = [0u8; 16];
        openssl::rand::rand_bytes(&mut bytes).map_err(|_| TokenError::Randomness)?;
        Ok(Token(bytes))
    }

    /// Reads a token from a link. Only the spelling the link has is accepted, so one
    /// token has one spelling.
    pub fn parse(text: &str) -> Result<Token, TokenError> {
        let canonical = text.len() == TOKEN_CHARS
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical {
            return Err(TokenError::Malformed);
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| TokenError::Malformed)?;
        Ok(Token(bytes))
    }

    /// As the link writes it.
    pub fn as_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// What the store keeps of it.
    pub fn digest(&self) -> LinkDigest {
        LinkDigest::of(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A token opens a mailbox: it must not reach a log.
        f.write_str("Token(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anything_but_32_lower_case_hex_digits_is_refused() {
        let good = "0123456789abcdef0123456789abcdef";
        assert!(Token::parse(good).is_ok());
        for bad in [
            "",
            "0123456789abcdef",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcde/",
            "../../../../../../etc/passwd.....",
            "0123456789abcdef0123456789abcdè",
        ] {
            assert_eq!(Token::parse(bad), Err(TokenError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_token_reads_back_as_written_and_stays_out_of_debug() {
        let token = Token::generate().unwrap();
        let written = token.as_hex();
        assert_eq!(written.len(), TOKEN_CHARS);
        assert_eq!(Token::parse(&written).unwrap(), token);
        assert!(!format!("{token:?}").contains(&written));
        assert_ne!(Token::generate().unwrap(), token);
    }
}
