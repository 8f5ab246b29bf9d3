//! Networking shared by every front-end: listening, TLS, connection limits and
//! authentication throttling. Knows nothing about SMTP or IMAP.
//!
//! * [`ack`]: prompt TCP acknowledgements while a command is incomplete.
//! * [`listener`]: the accept loop with its connection caps (in all and per client
//!   address), backoff and shutdown.
//! * [`tls`]: rustls server and client configurations from PEM files.
//! * [`write`]: writes that fail when the peer stops reading.
//! * [`throttle`]: authentication failures counted per address, per (address,
//!   account) and per account, and the lock-outs they lead to.

pub mod ack;
pub mod http;
pub mod listener;
pub mod passwords;
pub mod throttle;
pub mod tls;
pub mod write;
