//! The ingest worker (see `store::conservation`).
