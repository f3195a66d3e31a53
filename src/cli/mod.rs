//! The command line: [`args`] parses, [`run`] resolves the parsed flags into what to do and
//! dispatches to [`commands`]; [`files`] and [`report`] are the file handling and the output
//! every command shares.

#![forbid(unsafe_code)]

pub mod args;
mod bench;
mod commands;
pub mod env;
pub mod files;
mod report;
pub mod version;

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

/// Worker threads asked for: `-T`, else `S2S2S_THREADS`, else 0 (all cores).
pub fn threads_asked(common: &Common) -> usize {
    common.threads.or(env::get().threads).unwrap_or(0)
}

/// Worker threads to run: those asked for, all cores for 0.
fn threads(common: &Common) -> usize {
    let n = threads_asked(common);
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
    /// The level asked for: `-N`/`--level`, else `S2S2S_LEVEL`, else the default.
    fn number(&self) -> u8 {
        self.level.or(env::get().level).unwrap_or(DEFAULT_LEVEL)
    }

    /// The level's configuration with any explicit overrides.
    fn level(&self) -> Level {
        Level::get(self.number()).expect("clap and env::load check the range").with_overrides(self.overrides())
    }

    /// Whether no level or tuning flag was given.
    fn is_default(&self) -> bool {
        self.level.is_none() && self.overrides() == Overrides::default()
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
        Some(Cmd::Info { files, components, json }) => commands::info::run(common, &files, components, json),
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
        commands::info::run(common, &io.files, false, false)
    } else if mode.decompress {
        commands::codec::run(common, io, Direction::Decompress)
    } else {
        commands::codec::run(common, io, Direction::Compress)
    }
}

/// The man page's sections beyond what clap describes (roff).
const MAN_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Every file was processed.
.TP
.B 1
An error: a file could not be read, written or decoded (the other files were processed), or
a setting from the environment was malformed.
.TP
.B 2
A usage error: an unknown flag or a value out of range.
.TP
.B 130
Interrupted (SIGINT, SIGTERM or SIGHUP); the partial output was removed.
.SH ENVIRONMENT
.TP
.B S2S2S_LEVEL
The compression level, 1 to 9, where no \-1 ... \-9 or \-\-level is given (for
\fBtar \-I s2s2s\fR, which passes no flags).
.TP
.B S2S2S_THREADS
Worker threads (0 = all cores) where no \-T is given. The output never depends on it.
.TP
.B S2S2S_KERNEL
A slower SIMD variant than the CPU's best (portable, sse2, avx2, avx512, avx512vnni), for
measuring; every variant writes the same bits.
.SH EXAMPLES
.TP
.B s2s2s notes.txt
Compress to notes.txt.s2s at level 6, keeping notes.txt.
.TP
.B s2s2s \-d notes.txt.s2s
Restore notes.txt.
.TP
.B s2s2s \-2 \-v *.log
Compress each log at level 2 (context mixing alone, about 10 times faster), with a summary line each and totals.
.TP
.B s2s2s \-dc notes.txt.s2s | less
Decompress to standard output.
.TP
.B s2s2s \-t *.s2s
Verify files without writing anything.
.TP
.B s2s2s \-l *.s2s
List sizes, ratios and methods, with totals (\-\-json for machines).
.TP
.B S2S2S_LEVEL=9 tar \-I s2s2s \-cf src.tar.s2s src
Make a tar archive at level 9; \fBtar \-I s2s2s \-xf src.tar.s2s\fR extracts it.
"#;

/// Writes the man page or a completion script, generated from the one clap definition.
fn generate(what: Generate) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let out = &mut std::io::stdout();
    let shell = match what {
        Generate::Man => {
            let man = clap_mangen::Man::new(cmd);
            man.render_title(out)?;
            man.render_name_section(out)?;
            man.render_synopsis_section(out)?;
            man.render_description_section(out)?;
            man.render_options_section(out)?;
            man.render_subcommands_section(out)?;
            std::io::Write::write_all(out, MAN_SECTIONS.as_bytes())?;
            man.render_version_section(out)?;
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
