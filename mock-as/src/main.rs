//! The `mock-as` command: serve a configuration, or check one (all of it is [`mock_as::cli`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mock_as::cli::main_with(mock_as::cli::Cli::parse())
}
