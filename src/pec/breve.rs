//! breve
