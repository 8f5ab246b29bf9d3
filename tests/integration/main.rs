//! pecd's integration tests: one binary (it links once on two cores). Real tools
//! (`openssl`, `xmllint`) check what pecd writes, and the real PEC messages in
//! `../shared/fixtures/real` are read where they exist; a missing tool fails the test
//! with what to install, a missing `../shared` skips with a printed reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod access;
mod admin;
mod attacks;
mod builders;
mod cli;
mod conservation;
mod conservation_offline;
mod daemon;
mod fuzz_corpus;
mod imap;
mod index_fetch;
mod notify;
mod openapi;
mod operator;
mod real_messages;
mod stats;
mod support;
mod tampering;
mod timers;
mod virus;
