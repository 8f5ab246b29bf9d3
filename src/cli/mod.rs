//! Operator commands (CONTRACT.md).
