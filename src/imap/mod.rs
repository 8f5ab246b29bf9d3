//! IMAP access for mail clients (RFC 3501, RFC 9051 where compatible), parsed and
//! serialized with imap-codec. [`session`] is the state machine, synchronous and free
//! of sockets, given the provider's part through [`provider_hooks`]; [`exchange`] runs
//! it from bytes to bytes; [`server`] is the async shell: TLS, framing, literals, IDLE,
//! throttled logins. [`message`] and [`search`] read stored messages for FETCH and SEARCH;
//! [`sort`] and [`thread`] order them for SORT and THREAD (RFC 5256).
//!
//! PEC delivery status shows in any client as keywords on the sender's `Sent` copy
//! ([`crate::pec::status`]), and receipts, envelopes and anomalies carry
//! `$PecRicevuta`, `$PecBusta` and `$PecAnomalia` from delivery.

pub mod exchange;
pub mod extended;
pub mod flags;
pub mod framing;
pub mod message;
pub mod provider_hooks;
pub mod reply;
pub mod search;
pub mod server;
pub mod session;
pub mod sort;
pub mod thread;
