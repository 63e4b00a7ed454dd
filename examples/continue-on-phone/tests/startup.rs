//! The binary as `cargo run` and the browser tests start it: the machine-readable URL
//! lines on stdout, a loud simulator notice on stderr, the app answering on the URL
//! (the check itself is shared with the other reference app, in `example-support`).

#[test]
fn prints_the_urls_and_serves() {
    example_support::testing::prints_the_urls_and_serves(env!("CARGO_BIN_EXE_continue-on-phone"));
}
