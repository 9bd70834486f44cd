//! The thin binary: parse the command line, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use kubeboot::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    kubeboot::logging::init(cli.global.verbosity);
    match kubeboot::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
