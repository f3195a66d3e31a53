//! The command line: [`args`] parses, [`run`] resolves the parsed flags into what to do and
//! dispatches to [`commands`]; [`files`] and [`report`] are the file handling and the output
//! every command shares.

#![forbid(unsafe_code)]

pub mod args;
mod bench;
mod commands;
pub mod files;
mod report;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use s2s2s::level::{Overrides, DEFAULT_LEVEL};
use s2s2s::{Level, ModelRegistry};

use args::{Cli, Cmd, Common, FileArgs, Generate, Tuning};
use files::Direction;

/// An error as the user sees it: one line, with a hint where the library's message cannot give
/// one (it never names a flag).
pub fn error_line(e: &anyhow::Error) -> String {
    use s2s2s::model::ModelError;
    let wrong_model = e.chain().any(|c| {
        matches!(c.downcast_ref::<ModelError>(), Some(ModelError::WrongModel { .. }))
            || matches!(c.downcast_ref::<s2s2s::Error>(), Some(s2s2s::Error::Model(ModelError::WrongModel { .. })))
    });
    format!("s2s2s: {e:#}{}", if wrong_model { "; pass --model with the right one" } else { "" })
}

/// Worker threads for `-T n` (0 = all cores).
fn threads(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        n
    }
}

/// The models a run can use: the `--model` directory, or the built-in ones.
fn registry(common: &Common) -> Result<ModelRegistry> {
    ModelRegistry::open(common.model.as_deref()).with_context(|| match &common.model {
        Some(dir) => format!("loading model from {}", dir.display()),
        None => "loading the built-in models".into(),
    })
}

impl Tuning {
    /// The level's configuration with any explicit overrides.
    fn level(&self) -> Level {
        Level::get(self.level).expect("clap checks the range").with_overrides(self.overrides())
    }

    /// Whether nothing differs from the default level (an explicit `-6` does not).
    fn is_default(&self) -> bool {
        self.level == DEFAULT_LEVEL && self.overrides() == Overrides::default()
    }

    /// The explicit overrides of the level's settings.
    fn overrides(&self) -> Overrides {
        Overrides {
            profile: self.profile.map(Into::into),
            block: self.block_size,
            latent: self.latent.map(Into::into),
            lanes: self.lanes,
            streams: self.streams,
            arith: self.arith.map(Into::into),
        }
    }
}

/// Runs a parsed command line; the exit code says whether every file succeeded.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let common = &cli.common;
    if let Some(what) = cli.generate {
        return generate(what);
    }
    if cli.cmd.is_some() && cli.uses_flag_mode() {
        anyhow::bail!("give either a subcommand or the -z/-d/-t/-l flags and files before it, not both");
    }
    if cli.cmd.is_some() && !cli.io.tuning.is_default() {
        // (else they would be ignored: each subcommand has its own)
        anyhow::bail!("put the level and tuning flags after the subcommand, e.g. `s2s2s compress -9 FILE`");
    }
    match cli.cmd {
        Some(Cmd::Compress(a)) => commands::codec::run(common, &a, Direction::Compress),
        Some(Cmd::Decompress(a)) => commands::codec::run(common, &a, Direction::Decompress),
        Some(Cmd::Test { files }) => commands::codec::test(common, &files),
        Some(Cmd::Info { files, components }) => commands::info::run(common, &files, components),
        Some(Cmd::Bench { files, ablation, levels, latents, tuning }) => {
            commands::bench::run(common, &files, commands::bench::Matrix::of(ablation, levels, latents), &tuning)
        }
        #[cfg(feature = "train")]
        Some(Cmd::ValidationSplit { corpus, output }) => commands::train::validation_split(common, &corpus, &output),
        #[cfg(feature = "train")]
        Some(Cmd::Train(t)) => commands::train::run(common, *t),
        None => run_flags(common, &cli.mode, &cli.io),
    }
}

/// No subcommand: gzip's conventions (`-d`, `-t`, `-l`, else compress).
fn run_flags(common: &Common, mode: &args::ModeFlags, io: &FileArgs) -> Result<ExitCode> {
    if mode.test {
        commands::codec::test(common, &io.files)
    } else if mode.list {
        commands::info::run(common, &io.files, false)
    } else if mode.decompress {
        commands::codec::run(common, io, Direction::Decompress)
    } else {
        commands::codec::run(common, io, Direction::Compress)
    }
}

/// Writes the man page or a completion script, generated from the one clap definition.
fn generate(what: Generate) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let out = &mut std::io::stdout();
    let shell = match what {
        Generate::Man => {
            clap_mangen::Man::new(cmd).render(out)?;
            return Ok(ExitCode::SUCCESS);
        }
        Generate::Bash => clap_complete::Shell::Bash,
        Generate::Zsh => clap_complete::Shell::Zsh,
        Generate::Fish => clap_complete::Shell::Fish,
        Generate::Elvish => clap_complete::Shell::Elvish,
        Generate::Powershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "s2s2s", out);
    Ok(ExitCode::SUCCESS)
}
