//! The daemon's log: stderr (the journal, under systemd), filtered by `RUST_LOG`
//! (default `info`), as readable text or, with `[log] format = "json"`, one JSON object
//! per line whose keys are the event's fields (`msgid`, `mailbox`, `peer`, …) beside
//! `timestamp`, `level`, `target` and `message`. What pecd logs never holds a
//! password, a bearer token or a message body: secrets' types print as `..`, and the
//! points log identifiers, addresses and outcomes only.

use crate::config::LogFormat;

/// Starts the log in `format`; a second call (tests) leaves the first in place.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let started = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    // Only a subscriber set before (a test harness) makes this fail; it keeps logging.
    drop(started);
}
