//! pecd: a PEC (Posta Elettronica Certificata) provider server and conservation gateway.
//!
//! # Layout
//!
//! The modules follow the regulation's vocabulary (DPR 68/2005, DM 2 novembre 2005,
//! RFC 6109) and a strict layering, so that anyone who knows PEC finds their way:
//!
//! ```text
//!  main.rs, cli        composition root and operator commands
//!      │
//!      ▼
//!  smtp, imap, admin   front ends: async shells around sans-IO sessions;
//!  web                 the JSON API (admin) and the operators' HTTPS panel (web);
//!  control             the socket operator commands reach the running daemon by
//!  net                 listeners, TLS, AUTH throttling, password checks
//!      │
//!      ▼
//!  provider            the three PEC points, relay, timers, receipt correlation
//!  metrics             the Prometheus registry the points and front ends count in
//!  conservation        packages, ingest worker, audit, export, the IMAP view's data
//!  manage              domains, operators, holders, mailbox life, documents, reports
//!  notify              ordinary mail to people: activation links, outbox, mailer
//!  stats               the AgID statistics (P01, P02, C01) from the registro
//!      │
//!      ▼
//!  store, crypto       redb or PostgreSQL + content-addressed bodies; S/MIME, certificates, trust
//!      │
//!      ▼
//!  pec, mail           pure formats: daticert.xml, envelopes, receipts, delivery
//!                      status keywords, the providers index, the message reader;
//!                      RFC 5322 addresses and MIME helpers
//! ```
//!
//! # Layers
//!
//! `pec` and `mail` do no I/O: no `std::fs`, no `std::net`, no `tokio`, no signing.
//! They take bytes and values and return bytes and values, so they are tested without
//! sockets and fuzzed byte by byte. `.ci/check-layers.sh` enforces this with a grep.
//!
//! # Invariants
//!
//! * Everything pecd signs goes through [`crypto::smime::sign`]; everything from another
//!   provider passes [`crypto::smime::verify`] before anything acts on it, and the
//!   certificate that verifies a signature is the one every check judges.
//! * What a PEC message certifies is read from its signed daticert; unsigned outer
//!   headers decide nothing and must restate it ([`pec::reader`]). A busta is delivered
//!   only to its `destinatari`, each once; a receipt acts only on a message this
//!   provider sent ([`store::ledger`]).
//! * Parsers of untrusted bytes return errors and never panic; each has a fuzz target
//!   whose corpus `cargo test` replays (see [`fuzzing`]).

pub mod admin;
pub mod cli;
pub mod config;
pub mod conservation;
pub mod control;
pub mod crypto;
pub mod fuzzing;
pub mod imap;
pub mod mail;
pub mod manage;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod pec;
pub mod provider;
pub mod smtp;
pub mod stats;
pub mod store;
pub mod web;
