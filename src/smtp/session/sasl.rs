//! Decoding of the SASL responses pecd accepts: PLAIN (RFC 4616) and LOGIN.
//!
//! Both travel base64-encoded in AUTH continuation lines (RFC 4954 §4); `=` stands for
//! an empty response. Pure: no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why a SASL response was refused before any password check.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
pub enum SaslError {
    /// Not base64, not UTF-8, or not the PLAIN `authzid NUL authcid NUL passwd` shape.
    #[error("malformed SASL response")]
    Malformed,
    /// PLAIN asked to act as another identity; pecd has no proxy authorization.
    #[error("authorization identity differs from authentication identity")]
    ForeignAuthorization,
}

/// A decoded PLAIN response: the user and the password.
pub fn plain(response: &[u8]) -> Result<(String, String), SaslError> {
    let decoded = decode(response)?;
    let mut parts = decoded.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError::ForeignAuthorization);
    }
    Ok((user.to_owned(), password.to_owned()))
}

/// One decoded LOGIN answer (the user name or the password).
pub fn login(response: &[u8]) -> Result<String, SaslError> {
    decode(response)
}

fn decode(response: &[u8]) -> Result<String, SaslError> {
    let response = response.trim_ascii();
    if response == b"=" {
        return Ok(String::new());
    }
    let bytes = STANDARD
        .decode(response)
        .map_err(|_| SaslError::Malformed)?;
    String::from_utf8(bytes).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plain() {
        // "\0alice@pec-a.test\0secret"
        let response = STANDARD.encode("\0alice@pec-a.test\0secret");
        assert_eq!(
            plain(response.as_bytes()),
            Ok(("alice@pec-a.test".into(), "secret".into()))
        );
        let same = STANDARD.encode("alice\0alice\0pw");
        assert_eq!(plain(same.as_bytes()), Ok(("alice".into(), "pw".into())));
        let other = STANDARD.encode("bob\0alice\0pw");
        assert_eq!(
            plain(other.as_bytes()),
            Err(SaslError::ForeignAuthorization)
        );
        let short = STANDARD.encode("alice\0pw");
        assert_eq!(plain(short.as_bytes()), Err(SaslError::Malformed));
        assert_eq!(plain(b"not base64!"), Err(SaslError::Malformed));
        assert_eq!(plain(b"="), Err(SaslError::Malformed));
    }

    #[test]
    fn decodes_login() {
        assert_eq!(login(b"YWxpY2U="), Ok("alice".into()));
        assert_eq!(login(b"="), Ok(String::new()));
        assert_eq!(login(b"/w=="), Err(SaslError::Malformed));
    }
}
