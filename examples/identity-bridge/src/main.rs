//! `identity-bridge`: Vipps phone login as an OpenID provider (see the library docs).

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    example_support::main("identity-bridge", || {
        identity_bridge::run(identity_bridge::Options::parse())
    })
}
