//! The HTTP(S) client of a configured TSA (RFC 3161 §3.4: one POST of
//! `application/timestamp-query`, the TimeStampResp in the body of a 200). ureq does
//! the HTTP (chunked bodies, IPv6 literals, TLS through rustls with the ring provider
//! and the Mozilla roots); this file sets the bounds a hostile or stuck TSA meets.

use std::time::Duration;

use ureq::Agent;

use super::TsaError;

/// How long one exchange with the TSA may take, from connecting to the last byte.
const TIMEOUT: Duration = Duration::from_secs(30);

/// POSTs a TimeStampReq to the TSA at `url` and returns the body of its 200 answer, of
/// at most `limit` bytes.
pub(super) fn post(url: &str, request: &[u8], limit: u64) -> Result<Vec<u8>, TsaError> {
    let http = |source: ureq::Error| TsaError::Http {
        url: url.to_string(),
        source: Box::new(source),
    };
    let mut response = agent()
        .post(url)
        .header("Content-Type", "application/timestamp-query")
        .send(request)
        .map_err(http)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(TsaError::Status {
            url: url.to_string(),
            status,
        });
    }
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(http)
}

/// An agent that goes where the configuration says: no proxy from the environment (the
/// TSA's address is `tsa_url`, nothing else), no redirects (a TSA that moved is a
/// configuration change), and every status returned rather than turned into an error,
/// so that [`post`] can name it.
fn agent() -> Agent {
    Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
}
