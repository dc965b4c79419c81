//! Test harness: see `harness`.
