//! Simulator binary.
fn main() {}
