//! Generic RFC 5322 helpers, no PEC knowledge.

pub mod address;
pub mod header_index;
pub mod message;
