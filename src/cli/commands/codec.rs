//! `compress`, `decompress` (and the flag forms) and `test`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use s2s2s::{pipeline, ModelRegistry, Options, PreparedModel};

use super::super::args::{Common, FileArgs};
use super::super::files::{self, check_sink, inputs_or_stdin, is_stdin, output_for, Direction, OutputRules, Sink};
use super::super::report::{progress_bar, verbose_line};
use super::super::{registry, threads};

/// What one run codes with: the model to compress with, or the registry decoders look in.
struct Coding<'a> {
    dir: Direction,
    registry: &'a ModelRegistry,
    compressor: Option<(Option<&'a PreparedModel>, Options)>,
    threads: usize,
    quiet: bool,
}

/// Compresses or decompresses each file; a failing file is reported and the rest go on.
pub fn run(common: &Common, args: &FileArgs, dir: Direction) -> Result<ExitCode> {
    let files = inputs_or_stdin(&args.files);
    if args.output.is_some() && files.len() > 1 {
        anyhow::bail!("-o takes one input file");
    }
    let registry = registry(common)?;
    let threads = threads(common.threads);
    let compressor = match dir {
        Direction::Compress => {
            let level = args.tuning.level();
            // (the context-mixing profiles code no latent: a flag that would do nothing is refused)
            if level.latent != s2s2s::LatentSearch::Off && !level.profile.codes_latents() {
                anyhow::bail!(
                    "--latent: the {} profile codes no latent (only neural and mixed do: e.g. `-3 --profile mixed`)",
                    level.profile.name()
                );
            }
            let m = registry.for_level(&level).map_err(|e| match e {
                s2s2s::model::ModelError::NoPolicy => {
                    anyhow::anyhow!("--latent policy: the model has no latent policy (train one with `s2s2s train model`)")
                }
                e => anyhow::Error::new(e).context(format!("loading the built-in {} model", level.model.name())),
            })?;
            Some((m, level.options(threads)))
        }
        Direction::Decompress => None,
    };
    let coding = Coding { dir, registry: &registry, compressor, threads, quiet: common.quiet };
    let rules = OutputRules { output: args.output.as_deref(), stdout: args.stdout, force: args.force };
    let mut failed = false;
    for input in &files {
        if let Err(e) = one_file(common, &coding, input, &rules, args.rm) {
            eprintln!("{}", super::super::error_line(&e));
            failed = true;
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn one_file(common: &Common, coding: &Coding, input: &Path, rules: &OutputRules, rm: bool) -> Result<()> {
    let sink = output_for(input, rules, coding.dir)?;
    check_sink(input, &sink, coding.dir, rules.force)?;
    let t = Instant::now();
    let stats = files::process(input, &sink, rules.force, &|r, w, len| {
        // decompression reports output bytes, whose total is not known in advance
        let pb = progress_bar(if coding.dir == Direction::Compress { len } else { None }, coding.quiet);
        let tick = |n: u64| pb.set_position(n);
        let stats = match &coding.compressor {
            Some((m, opts)) => pipeline::compress(*m, r, w, opts, &tick),
            None => pipeline::decompress(coding.registry, r, Some(w), coding.threads, &tick),
        };
        pb.finish_and_clear();
        Ok(stats?)
    })
    .with_context(|| input.display().to_string())?;
    if common.verbose && !common.quiet {
        let what = if coding.dir == Direction::Compress { "compressed" } else { "decompressed" };
        eprintln!("{}", verbose_line(what, input, &stats, t.elapsed().as_secs_f64(), coding.dir));
    }
    // only once the output is a regular file of its own (not -c, not -o /dev/null)
    let kept = matches!(&sink, Sink::File(o) if std::fs::metadata(o).is_ok_and(|m| m.is_file()));
    if rm && !is_stdin(input) && kept {
        std::fs::remove_file(input).with_context(|| format!("{}: cannot remove", input.display()))?;
    }
    Ok(())
}

/// Decompresses each file without writing anything; stops at the first that fails.
pub fn test(common: &Common, files: &[std::path::PathBuf]) -> Result<ExitCode> {
    let registry = registry(common)?;
    for f in &inputs_or_stdin(files) {
        let t = Instant::now();
        let mut src = files::Source::open(f)?;
        let stats = pipeline::decompress(&registry, &mut src.reader, None, threads(common.threads), &|_| {})
            .with_context(|| f.display().to_string())?;
        if common.verbose && !common.quiet {
            eprintln!("{}", verbose_line("verified", f, &stats, t.elapsed().as_secs_f64(), Direction::Decompress));
        } else if !common.quiet {
            eprintln!("{}: OK", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
