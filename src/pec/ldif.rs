//! ldif
