//! The integration tests, one binary (one link of the library): through the real binary and
//! through the library's public API. `tests/memory.rs` stays a binary of its own: it measures
//! its process's peak memory.

mod cli;
mod cli_output;
mod cli_safety;
mod common;
mod fuzz_regressions;
mod reliability;
mod roundtrip;
mod snapshots;
mod train;
