//! Fuzz the SOAP decoder: arbitrary bytes must decode to events, a body or an error, never a
//! panic, a hang or unbounded memory.
//!
//! Run with cargo-fuzz (needs a nightly toolchain: `rustup toolchain install nightly` and
//! `cargo install cargo-fuzz`), from the `fuzz/` directory:
//!
//! ```text
//! cd fuzz
//! cargo +nightly fuzz run decode_events
//! # seed the corpus with the test fixtures for deeper coverage:
//! mkdir -p corpus/decode_events && cp ../crates/vsphere-client/tests/fixtures/*.xml corpus/decode_events/
//! cargo +nightly fuzz run decode_events corpus/decode_events -- -max_len=262144
//! ```
//!
//! On stable, `cargo build -p vsphere-client-fuzz` only checks that the target builds (CI does
//! this); the binary it makes is not instrumented. Without nightly, an instrumented build (no
//! sanitizer) that libFuzzer can drive is, from the repository root:
//!
//! ```text
//! RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
//!   cargo build --release --target x86_64-unknown-linux-gnu --target-dir target/fuzz \
//!   -p vsphere-client-fuzz --bin decode_events
//! target/fuzz/x86_64-unknown-linux-gnu/release/decode_events CORPUS_DIR -max_total_time=300
//! ```

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vsphere_client::decode::decode_events(data);
    let _ = vsphere_client::decode::decode_body(data, None);
});
