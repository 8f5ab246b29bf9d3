//! SMTP: the submission and MX listeners, and the client that relays to other providers.
//!
//! ```text
//!  server ──▶ session ──▶ command (smtp-proto)      pure: no I/O
//!    │           │   └──▶ data (dot-stuffing), reply
//!    │           └─ Steps: Reply, StartTls, Authenticate, CheckRecipient, ReadData, Submit, Close
//!    └─▶ Backend (the PEC access / reception point): authenticate, check_recipient, submit
//!  client ──▶ another provider's MX (EHLO, STARTTLS, MAIL, RCPT, DATA)
//! ```
//!
//! * [`command`], [`reply`], [`data`], [`session`]: the protocol itself (RFC 5321,
//!   RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 6409 submission), sans-IO.
//! * [`server`]: the async driver: sockets, TLS, timeouts, shutdown, the [`Backend`].
//! * [`client`]: outbound delivery to another provider.
//!
//! This module knows SMTP, not PEC: what to accept and what a message becomes is the
//! backend's decision, and its [`Reply`] is what the client sees.

pub mod client;
pub mod command;
pub mod data;
pub mod reply;
pub mod server;
pub mod session;

pub use reply::Reply;
pub use server::Backend;
pub use server::Endpoint;
pub use server::Timeouts;
pub use session::AuthOutcome;
pub use session::Envelope;
pub use session::Mode;
pub use session::Secret;
pub use session::Session;
pub use session::SessionConfig;
pub use session::Step;
