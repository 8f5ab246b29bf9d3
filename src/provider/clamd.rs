//! Virus checks through a ClamAV `clamd` (DPR 68/2005 art. 12, RFC 6109 §3.1.3, §3.2.3):
//! the `INSTREAM` command over TCP or a Unix socket — `zINSTREAM\0`, then chunks each
//! prefixed by its length as a 4-byte big-endian integer, then a zero length; the reply
//! is `stream: OK` or `stream: <signature> FOUND`.
//!
//! Hand-written: the protocol is a dozen lines and no maintained crate adds anything
//! but dependencies. Blocking I/O: it runs inside the provider's blocking section.

use std::io::Read;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where clamd listens.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ClamdAddress {
    /// `host:port`.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl ClamdAddress {
    /// Parses `unix:/path` or `host:port`.
    pub fn parse(text: &str) -> ClamdAddress {
        match text.strip_prefix("unix:") {
            Some(path) => ClamdAddress::Unix(PathBuf::from(path)),
            None => ClamdAddress::Tcp(text.to_string()),
        }
    }
}

/// What clamd said.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Verdict {
    /// No virus.
    Clean,
    /// A virus, by signature name (e.g. `Eicar-Signature`).
    Infected(String),
}

/// Why a scan failed (the message is then not certified: the caller answers 451).
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    /// Connecting, writing or reading failed.
    #[error("clamd at {address}: {source}")]
    Io {
        /// Where.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// clamd answered something unexpected (e.g. `INSTREAM size limit exceeded`).
    #[error("clamd answered {0:?}")]
    Reply(String),
}

/// A clamd client.
#[derive(Clone, Debug)]
pub struct Clamd {
    address: ClamdAddress,
    timeout: Duration,
}

const CHUNK: usize = 64 * 1024;

impl Clamd {
    /// A client for `address`.
    pub fn new(address: ClamdAddress, timeout: Duration) -> Clamd {
        Clamd { address, timeout }
    }

    /// Scans bytes.
    pub fn scan(&self, data: &[u8]) -> Result<Verdict, ClamdError> {
        let timeout = Some(self.timeout);
        let reply = match &self.address {
            ClamdAddress::Tcp(address) => {
                let stream = TcpStream::connect(address).map_err(|e| self.io(e))?;
                stream
                    .set_read_timeout(timeout)
                    .and_then(|()| stream.set_write_timeout(timeout))
                    .map_err(|e| self.io(e))?;
                self.exchange(stream, data)?
            }
            ClamdAddress::Unix(path) => {
                let stream = UnixStream::connect(path).map_err(|e| self.io(e))?;
                stream
                    .set_read_timeout(timeout)
                    .and_then(|()| stream.set_write_timeout(timeout))
                    .map_err(|e| self.io(e))?;
                self.exchange(stream, data)?
            }
        };
        parse_reply(&reply)
    }

    fn exchange(&self, mut stream: impl Read + Write, data: &[u8]) -> Result<String, ClamdError> {
        stream.write_all(b"zINSTREAM\0").map_err(|e| self.io(e))?;
        for chunk in data.chunks(CHUNK) {
            let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX).to_be_bytes();
            stream
                .write_all(&len)
                .and_then(|()| stream.write_all(chunk))
                .map_err(|e| self.io(e))?;
        }
        stream
            .write_all(&0u32.to_be_bytes())
            .and_then(|()| stream.flush())
            .map_err(|e| self.io(e))?;
        let mut reply = Vec::new();
        stream
            .take(4096)
            .read_to_end(&mut reply)
            .map_err(|e| self.io(e))?;
        Ok(String::from_utf8_lossy(&reply)
            .trim_end_matches(['\0', '\n'])
            .to_string())
    }

    fn io(&self, source: std::io::Error) -> ClamdError {
        let address = match &self.address {
            ClamdAddress::Tcp(a) => a.clone(),
            ClamdAddress::Unix(p) => format!("unix:{}", p.display()),
        };
        ClamdError::Io { address, source }
    }
}

/// `stream: OK` / `stream: Name FOUND` / anything else.
fn parse_reply(reply: &str) -> Result<Verdict, ClamdError> {
    let body = reply.strip_prefix("stream: ").unwrap_or(reply).trim();
    if body == "OK" {
        return Ok(Verdict::Clean);
    }
    match body.strip_suffix(" FOUND") {
        Some(name) => Ok(Verdict::Infected(name.trim().to_string())),
        None => Err(ClamdError::Reply(reply.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read() {
        assert_eq!(parse_reply("stream: OK").unwrap(), Verdict::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Signature FOUND").unwrap(),
            Verdict::Infected("Eicar-Signature".into())
        );
        assert!(parse_reply("INSTREAM size limit exceeded. ERROR").is_err());
        assert_eq!(
            ClamdAddress::parse("unix:/run/clamd.sock"),
            ClamdAddress::Unix("/run/clamd.sock".into())
        );
    }
}
