//! Networking shared by every front-end: listening, TLS, connection limits and
//! authentication throttling. Knows nothing about SMTP or IMAP.
//!
//! * [`ack`]: prompt TCP acknowledgements while a command is incomplete.
//! * [`listener`]: the accept loop with its connection caps (in all and per client
//!   address), backoff and shutdown.
//! * [`tls`]: rustls server and client configurations from PEM files.
//! * [`throttle`]: per-address authentication failure counting and lock-out.

pub mod ack;
pub mod listener;
pub mod passwords;
pub mod throttle;
pub mod tls;
