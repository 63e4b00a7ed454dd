//! `counter`: the customer-club desk (see the library docs). `cargo xtask demo` runs it.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    example_support::main("counter", || counter::run(counter::Options::parse()))
}
