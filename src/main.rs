//! The thin binary: parse the command line, set up logging, run, map the outcome to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = kubeboot::cli::Cli::parse();
    kubeboot::logging::init(cli.global.verbosity);
    match kubeboot::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code() as u8)
        }
    }
}
