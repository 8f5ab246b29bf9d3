//! Operator commands (CONTRACT.md). Each command is one file; `main.rs` parses the
//! arguments and calls these. Commands return `anyhow::Result` because they report
//! errors (one line on stderr) rather than handle them.

pub mod conservation;
pub mod index;
pub mod init;
pub mod log;
pub mod mailbox;
pub mod serve;
pub mod verify;
