//! `continue-on-phone`: the sign-up desk whose customers continue on their own phone (see
//! the library docs).

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    example_support::main("continue-on-phone", || {
        continue_on_phone::run(continue_on_phone::Options::parse())
    })
}
