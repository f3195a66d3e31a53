//! `compress`, `decompress` (and the flag forms) and `test`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use s2s2s::{pipeline, ModelRegistry, Options, PreparedModel, Stats};

use super::super::args::{Common, FileArgs};
use super::super::files::{self, check_sink, inputs_or_stdin, is_stdin, output_for, Direction, OutputRules, Sink};
use super::super::report::{progress_bar, summaries, summary_line, Totals};
use super::super::{error_line, registry, threads};

/// What one run codes with: the model to compress with, or the registry decoders look in.
struct Coding<'a> {
    dir: Direction,
    registry: &'a ModelRegistry,
    compressor: Option<(Option<&'a PreparedModel>, Options)>,
    level: Option<u8>,
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
    let threads = threads(common);
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
    let level = (dir == Direction::Compress).then(|| args.tuning.number());
    let coding = Coding { dir, registry: &registry, compressor, level, threads, quiet: common.quiet };
    let rules = OutputRules { output: args.output.as_deref(), stdout: args.stdout, force: args.force };
    let summarise = summaries(common.verbose, common.quiet);
    let what = if dir == Direction::Compress { "compressed" } else { "decompressed" };
    let mut totals = Totals::default();
    for input in &files {
        let t = Instant::now();
        match one_file(&coding, input, &rules, args.rm) {
            Ok(stats) => {
                let secs = t.elapsed().as_secs_f64();
                if summarise {
                    eprintln!("{}", summary_line(what, input, &stats, secs, dir, coding.level));
                }
                totals.add(&stats, secs, dir);
            }
            Err(e) => {
                eprintln!("{}", error_line(&e));
                totals.failed += 1;
            }
        }
    }
    if summarise && files.len() > 1 {
        eprintln!("{}", totals.line(what));
    }
    Ok(if totals.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Codes one input to its output. Each error names one path: the input's, or the output's
/// where the output is at fault.
fn one_file(coding: &Coding, input: &Path, rules: &OutputRules, rm: bool) -> Result<Stats> {
    let sink = output_for(input, rules, coding.dir)?;
    check_sink(input, &sink, coding.dir, rules.force)?;
    let stats = files::process(input, &sink, rules.force, &|r, w, len| {
        let pb = progress_bar(len, coding.quiet, coding.dir);
        let stats = match &coding.compressor {
            // (the compressor reports input bytes coded)
            Some((m, opts)) => pipeline::compress(*m, r, w, opts, &|n| pb.set_position(n)),
            // (the decompressor reports compressed bytes decoded)
            None => pipeline::decompress(coding.registry, r, Some(w), coding.threads, &|n| pb.set_position(n)),
        };
        pb.finish_and_clear();
        stats.with_context(|| input.display().to_string())
    })?;
    // only once the output is a regular file of its own (not -c, not -o /dev/null)
    let kept = matches!(&sink, Sink::File(o) if std::fs::metadata(o).is_ok_and(|m| m.is_file()));
    if rm && !is_stdin(input) && kept {
        std::fs::remove_file(input).with_context(|| format!("{}: cannot remove", input.display()))?;
    }
    Ok(stats)
}

/// Decompresses each file without writing anything; a bad file is reported and the rest go on
/// (as gzip and xz do), and the exit code says whether any failed.
pub fn test(common: &Common, files: &[PathBuf]) -> Result<ExitCode> {
    let registry = registry(common)?;
    let files = inputs_or_stdin(files);
    let mut totals = Totals::default();
    for f in &files {
        let t = Instant::now();
        let verified = files::Source::open(f).and_then(|mut src| {
            let pb = progress_bar(src.len(), common.quiet, Direction::Decompress);
            let stats = pipeline::decompress(&registry, &mut src.reader, None, threads(common), &|n| pb.set_position(n));
            pb.finish_and_clear();
            stats.with_context(|| f.display().to_string())
        });
        match verified {
            Ok(stats) => {
                let secs = t.elapsed().as_secs_f64();
                if common.verbose && !common.quiet {
                    eprintln!("{}", summary_line("OK,", f, &stats, secs, Direction::Decompress, None));
                } else if !common.quiet {
                    eprintln!("{}: OK", f.display());
                }
                totals.add(&stats, secs, Direction::Decompress);
            }
            Err(e) => {
                eprintln!("{}", error_line(&e));
                totals.failed += 1;
            }
        }
    }
    if common.verbose && !common.quiet && files.len() > 1 {
        eprintln!("{}", totals.line("verified"));
    }
    Ok(if totals.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
