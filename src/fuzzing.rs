//! Helpers the fuzz targets and the corpus-replay test call.
