//! The provider's management plane: what the gestore, the LRA operators of each ente
//! and the aggregators do to domains, holders (titolari), mailboxes and their
//! documents, whichever front end (the JSON API, the web panel) they use.
//!
//! This layer sits beside `provider` and `conservation`: it uses `store`, `mail`,
//! `pec` and `crypto`, and never a front end (`admin`, `web`, `cli`, `smtp`, `imap`).
//! Everything a user types or uploads is checked here ([`validate`]) before anything
//! is stored.

pub mod csv;
pub mod pdf;
pub mod validate;
