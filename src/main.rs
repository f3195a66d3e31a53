//! The `s2s2s` command line: parses, dispatches, maps errors to exit codes. The work is in the
//! library; the command layer is `cli/`.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let args = cli::args::expand_level_flags(std::env::args_os());
    let mut command = cli::args::Cli::command();
    // (`--version`'s text is worked out at run time, loading the networks: only when asked for)
    if args.iter().any(|a| a == "--version") {
        command = command.long_version(&*Box::leak(cli::version::long().into_boxed_str()));
    }
    let parsed = command.try_get_matches_from(args);
    let args = match parsed.and_then(|m| cli::args::Cli::from_arg_matches(&m)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    if let Err(e) = cli::env::load() {
        eprintln!("{}", cli::error_line(&e));
        return ExitCode::from(2);
    }
    let threads = cli::threads_asked(&args.common);
    if threads > 0 {
        // candle's CPU kernels (training) size their pool from this; set before any thread starts
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    cli::files::install_signal_handler();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // a closed pipe downstream is not an error worth reporting
            let io = |c: &(dyn std::error::Error + 'static)| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            };
            if e.chain().any(io) {
                return ExitCode::SUCCESS;
            }
            eprintln!("{}", cli::error_line(&e));
            ExitCode::FAILURE
        }
    }
}
