//! The `s2s2s` command line: parses arguments, opens files, reports. The work is in the library.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use s2s2s::container::{self, Profile};
use s2s2s::latent::Search;
use s2s2s::level::{self, Level};
use s2s2s::model::{hex, Builtin};
use s2s2s::pipeline::{Builtins, Models};
use s2s2s::{bench, pipeline, Codec, Model, Stats};

/// Lossless text compressor: a T5 encoder-decoder predicts each token, a range coder codes it.
#[derive(Parser)]
#[command(name = "s2s2s", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
struct Common {
    /// Model directory (tokenizer.json, config.json, model.safetensors) instead of the built-in one.
    #[arg(long, global = true, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Worker threads (0 = all cores). The output does not depend on it.
    #[arg(short = 'T', long, global = true, default_value_t = 0)]
    threads: usize,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print sizes and speeds.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Args)]
struct OutputArgs {
    /// Files to process; none or `-` means standard input to standard output.
    files: Vec<PathBuf>,
    /// Write to this file (one input only).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write to standard output.
    #[arg(short = 'c', long)]
    stdout: bool,
    /// Overwrite existing output files.
    #[arg(short, long)]
    force: bool,
    /// Remove each source file after its output is complete.
    #[arg(long)]
    rm: bool,
    /// Keep source files (the default; accepted for compatibility).
    #[arg(short, long)]
    keep: bool,
    #[command(flatten)]
    tuning: Tuning,
}

/// Compression settings beyond the level (ignored when decompressing: the file records them).
#[derive(Args, Clone)]
struct Tuning {
    /// Compression level, 1 (fastest) to 9 (smallest); also -1 ... -9.
    #[arg(long, default_value_t = level::DEFAULT_LEVEL, value_parser = clap::value_parser!(u8).range(1..=9))]
    level: u8,
    /// How token probabilities are computed, instead of the level's.
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
    /// Neural block size instead of the level's, e.g. 64K or 1M (at most 1M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    block_size: Option<usize>,
    /// How each segment's latent is chosen, instead of the level's (policy: the model's
    /// latent policy; each segment keeps a latent only where its exact code length is smaller).
    #[arg(long, value_enum)]
    latent: Option<LatentArg>,
}

/// Latent searches as the command line names them.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LatentArg {
    /// Always the empty latent.
    Off,
    /// Each segment's costliest tokens.
    Heuristic,
    /// The model's RL-trained policy.
    Policy,
}

impl From<LatentArg> for Search {
    fn from(l: LatentArg) -> Self {
        match l {
            LatentArg::Off => Search::Off,
            LatentArg::Heuristic => Search::Heuristic,
            LatentArg::Policy => Search::Policy,
        }
    }
}

fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let (num, unit) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1 << 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let n: usize = num.parse().map_err(|_| format!("not a size: {s}"))?;
    match n.checked_mul(unit) {
        Some(b) if (1..=container::MAX_NEURAL_BLOCK as usize).contains(&b) => Ok(b),
        _ => Err(format!("{s}: block size must be between 1 and 1M")),
    }
}

/// Numeric profiles as the command line names them.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ProfileArg {
    /// The network mixed with adaptive models of the file (best ratio).
    Mixed,
    /// The network alone.
    Neural,
    /// Adaptive models alone: no network, much faster.
    Adaptive,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Mixed => Profile::Mixed,
            ProfileArg::Neural => Profile::Neural,
            ProfileArg::Adaptive => Profile::Adaptive,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress FILE to FILE.s2s.
    #[command(visible_alias = "c")]
    Compress(OutputArgs),
    /// Decompress FILE.s2s to FILE.
    #[command(visible_alias = "d")]
    Decompress(OutputArgs),
    /// Verify .s2s files by decompressing them without writing anything.
    #[command(visible_alias = "t")]
    Test { files: Vec<PathBuf> },
    /// Show sizes, ratio, model, blocks by method, latent usage and mismatches of .s2s files.
    Info {
        files: Vec<PathBuf>,
        /// Also decode each file and report the bits each mixture component saved (slow).
        #[arg(long)]
        components: bool,
    },
    /// Compare s2s2s with gzip, bzip2, xz, zstd and PPMd (7-Zip) on files (one table, one run).
    Bench {
        files: Vec<PathBuf>,
        /// Measure every numeric profile (network alone, adaptive models alone, mixed), not only
        /// the default: the mixer's ablation.
        #[arg(long)]
        ablation: bool,
        /// Measure every level, 1 to 9.
        #[arg(long, conflicts_with = "ablation")]
        levels: bool,
        /// The latent's ablation: the default level with the empty, heuristic and policy latents.
        #[arg(long, conflicts_with_all = ["ablation", "levels"])]
        latents: bool,
    },
    /// Write the held-out validation part of each corpus source to DIR (never trained on).
    ValidationSplit {
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
    /// Train a tokenizer or a model (see `s2s2s train model --help`).
    #[command(subcommand)]
    Train(TrainCmd),
}

#[derive(Subcommand)]
enum TrainCmd {
    /// Train the byte-level BPE tokenizer on the corpus' training split.
    Tokenizer {
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
        #[arg(long, default_value_t = 4096)]
        vocab: usize,
        /// Bytes read from each source.
        #[arg(long, default_value_t = 4_000_000)]
        max_bytes: usize,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Pretrain by likelihood, bootstrap the latent (heuristic + imitation), then train the
    /// latent policy by off-policy REINFORCE. Resumable: run again with the same RUN directory
    /// (its plan.json then rules, not the flags). The model for `--model` is RUN/model.
    Model(TrainArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// Run directory: plan, checkpoint, token cache, log and the exported model.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    #[arg(long, default_value = "../shared/corpus")]
    corpus: PathBuf,
    /// tokenizer.json (default: the --init model's, else the built-in models' one).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Start from this model directory instead of from scratch (`builtin`: the default model);
    /// its shape, segment, context and latent length then replace the flags'.
    #[arg(long, value_name = "DIR")]
    init: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    d_model: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 512)]
    d_ff: usize,
    #[arg(long, default_value_t = 2)]
    enc_layers: usize,
    #[arg(long, default_value_t = 2)]
    dec_layers: usize,
    /// Policy network: width, heads, feed-forward, layers (each side).
    #[arg(long, default_value_t = 128)]
    policy_d_model: usize,
    #[arg(long, default_value_t = 2)]
    policy_heads: usize,
    #[arg(long, default_value_t = 256)]
    policy_d_ff: usize,
    #[arg(long, default_value_t = 1)]
    policy_layers: usize,
    #[arg(long, default_value_t = 128)]
    segment: usize,
    #[arg(long, default_value_t = 128)]
    context: usize,
    #[arg(long, default_value_t = 16)]
    max_latent: usize,
    #[arg(long, default_value_t = 2000)]
    pretrain_steps: usize,
    #[arg(long, default_value_t = 300)]
    imitate_steps: usize,
    #[arg(long, default_value_t = 300)]
    rl_steps: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1e-3)]
    policy_lr: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sampling temperature of the behaviour policy.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Replay buffer capacity (policy samples).
    #[arg(long, default_value_t = 2048)]
    replay: usize,
    /// Importance weights are clipped at this.
    #[arg(long, default_value_t = 2.0)]
    clip: f64,
    /// Bytes of each source read (0: all).
    #[arg(long, default_value_t = 0)]
    max_bytes: usize,
    /// Validation segments per source at each evaluation.
    #[arg(long, default_value_t = 16)]
    val_segments: usize,
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Stop (after a checkpoint) when this many minutes have passed; run again to resume.
    #[arg(long)]
    minutes: Option<f64>,
}

const SUFFIX: &str = ".s2s";

fn threads(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        n
    }
}

/// The models a run can use: the `--model` directory, or the built-in ones.
enum ModelSet {
    Custom(Box<Codec>),
    Builtin(Box<Builtins>),
}

impl ModelSet {
    fn load(common: &Common) -> Result<Self> {
        Ok(match &common.model {
            Some(dir) => {
                let model = Model::load(dir).with_context(|| format!("loading model from {}", dir.display()))?;
                ModelSet::Custom(Box::new(Codec::new(model)?))
            }
            None => ModelSet::Builtin(Box::default()),
        })
    }

    /// The codec that compresses at `level`: the user's model, or the level's built-in one.
    fn for_level(&self, level: &Level) -> Result<&Codec> {
        let codec = match self {
            ModelSet::Custom(c) => c,
            ModelSet::Builtin(b) => {
                b.get(level.model).with_context(|| format!("loading the built-in {} model", level.model.name()))?
            }
        };
        if level.latent == Search::Policy && codec.policy.is_none() {
            bail!("--latent policy: the model has no latent policy (train one with `s2s2s train model`)");
        }
        Ok(codec)
    }

    /// What decoders look models up in.
    fn models(&self) -> &dyn Models {
        match self {
            ModelSet::Custom(c) => c.as_ref(),
            ModelSet::Builtin(b) => b.as_ref(),
        }
    }
}

impl Tuning {
    /// The level's configuration with any explicit overrides.
    fn level(&self) -> Level {
        let mut l = level::level(self.level).expect("clap checks the range");
        if let Some(p) = self.profile {
            l.profile = p.into();
        }
        if let Some(b) = self.block_size {
            l.block = b;
        }
        if let Some(s) = self.latent {
            l.latent = s.into();
        }
        l
    }
}

/// Rewrites gzip-style level flags (`-9`, `-9v`) as `--level=9` (`-v`), up to a `--`.
fn expand_level_flags(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::new();
    let mut options = true;
    for a in args {
        let level = a.to_str().filter(|_| options).and_then(|s| {
            let rest = s.strip_prefix('-')?;
            let d = rest.chars().next().filter(|c| ('1'..='9').contains(c))?;
            let flags = &rest[1..];
            flags.chars().all(|c| c.is_ascii_alphabetic()).then(|| (d, flags.to_owned()))
        });
        options &= a != "--";
        match level {
            Some((d, flags)) => {
                out.push(format!("--level={d}").into());
                if !flags.is_empty() {
                    out.push(format!("-{flags}").into());
                }
            }
            None => out.push(a),
        }
    }
    out
}

fn progress_bar(len: Option<u64>, quiet: bool) -> ProgressBar {
    let big = len.is_none_or(|l| l > 256 << 10);
    if quiet || !big || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (pb, template) = match len {
        Some(l) => (ProgressBar::new(l), "{spinner} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"),
        None => (ProgressBar::new_spinner(), "{spinner} {bytes} {bytes_per_sec}"),
    };
    pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
    pb
}

/// Where one input goes.
enum Sink {
    Stdout,
    File(PathBuf),
}

fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn output_for(input: &Path, args: &OutputArgs, compress: bool) -> Result<Sink> {
    if args.stdout || is_stdin(input) && args.output.is_none() {
        return Ok(Sink::Stdout);
    }
    if let Some(o) = &args.output {
        return Ok(if is_stdin(o) { Sink::Stdout } else { Sink::File(o.clone()) });
    }
    let name = input.as_os_str().to_string_lossy();
    if compress {
        if name.ends_with(SUFFIX) {
            bail!("{}: already has the {SUFFIX} suffix", input.display());
        }
        let mut s = input.as_os_str().to_owned();
        s.push(SUFFIX);
        Ok(Sink::File(s.into()))
    } else {
        match name.strip_suffix(SUFFIX) {
            Some(stem) if !stem.is_empty() && !stem.ends_with('/') => Ok(Sink::File(PathBuf::from(stem))),
            _ => bail!("{}: unknown suffix (expected {SUFFIX}); use -o or -c", input.display()),
        }
    }
}

/// The temporary output being written, removed by the signal handler on Ctrl-C or SIGTERM.
static PARTIAL_OUTPUT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// On SIGINT, SIGTERM or SIGHUP: remove the partial output and exit like an interrupted tool.
fn install_signal_handler() {
    let _ = ctrlc::set_handler(|| {
        // Held until exit, so the main thread cannot rename the file meanwhile.
        let guard = PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = guard.as_ref() {
            let _ = std::fs::remove_file(p);
        }
        eprintln!("s2s2s: interrupted");
        std::process::exit(130);
    });
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Opens an existing output that is not a regular file (`/dev/null`, a FIFO) for direct writing.
fn special_output(out: &Path) -> Option<std::io::Result<File>> {
    let meta = std::fs::metadata(out).ok()?;
    (!meta.is_file() && !meta.is_dir()).then(|| std::fs::OpenOptions::new().write(true).open(out))
}

/// The coding work for one input: reader, writer, input length if known.
type Work<'a> = dyn Fn(&mut dyn Read, &mut dyn Write, Option<u64>) -> Result<Stats> + 'a;

/// Runs `work` from `input` to `sink`, writing files through a temporary file renamed at the end.
fn process(
    input: &Path,
    sink: &Sink,
    force: bool,
    work: &Work<'_>,
) -> Result<Stats> {
    let (mut reader, source): (Box<dyn Read>, Option<std::fs::Metadata>) = if is_stdin(input) {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = File::open(input).with_context(|| format!("{}: cannot open", input.display()))?;
        let meta = f.metadata()?;
        if meta.is_dir() {
            bail!("{}: is a directory", input.display());
        }
        (Box::new(BufReader::with_capacity(1 << 20, f)), Some(meta))
    };
    let len = source.as_ref().filter(|m| m.is_file()).map(|m| m.len());
    match sink {
        Sink::Stdout => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            let stats = work(&mut reader, &mut w, len)?;
            w.flush()?;
            Ok(stats)
        }
        Sink::File(out) => {
            if let Some(f) = special_output(out) {
                let f = f.with_context(|| format!("{}: cannot open", out.display()))?;
                let mut w = BufWriter::with_capacity(1 << 20, f);
                let stats = work(&mut reader, &mut w, len)?;
                w.flush()?;
                return Ok(stats);
            }
            if out.exists() && !force {
                bail!("{}: already exists; use -f to overwrite", out.display());
            }
            let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            // Like gzip and xz: the output gets the source's permissions and modification time.
            let tmp = tempfile::Builder::new()
                .prefix(".s2s2s-")
                .suffix(".tmp")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(dir)
                .with_context(|| format!("{}: cannot create a file in this directory", dir.display()))?;
            *PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) = Some(tmp.path().to_path_buf());
            let written = (|| -> Result<(Stats, tempfile::NamedTempFile)> {
                let mut w = BufWriter::with_capacity(1 << 20, tmp);
                let stats = work(&mut reader, &mut w, len)?;
                let tmp = w.into_inner().map_err(|e| e.into_error())?;
                if let Some(meta) = source.as_ref().filter(|m| m.is_file()) {
                    tmp.as_file().set_permissions(meta.permissions())?;
                    if let Ok(mtime) = meta.modified() {
                        tmp.as_file().set_modified(mtime)?;
                    }
                }
                tmp.as_file().sync_all()?;
                Ok((stats, tmp))
            })();
            let mut partial = PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
            *partial = None;
            let (stats, tmp) = written?;
            if force { tmp.persist(out) } else { tmp.persist_noclobber(out) }
                .map_err(|e| e.error)
                .with_context(|| format!("{}: cannot write", out.display()))?;
            Ok(stats)
        }
    }
}

fn report(common: &Common, what: &str, name: &Path, stats: &Stats, secs: f64, compress: bool) {
    if common.quiet || !common.verbose {
        return;
    }
    let (orig, packed) = if compress {
        (stats.input_bytes, stats.output_bytes)
    } else {
        (stats.output_bytes, stats.input_bytes)
    };
    eprintln!(
        "{}: {what} {orig} -> {packed} bytes, {:.3} bits/byte, {:.1} KB/s",
        name.display(),
        8.0 * packed as f64 / orig.max(1) as f64,
        orig as f64 / 1000.0 / secs.max(1e-9)
    );
}

fn run_files(common: &Common, args: &OutputArgs, compress: bool) -> Result<()> {
    let files = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    if args.output.is_some() && files.len() > 1 {
        bail!("-o takes one input file");
    }
    let set = ModelSet::load(common)?;
    let threads = threads(common.threads);
    let level = args.tuning.level();
    let opts = level.options(threads);
    let codec = if compress { Some(set.for_level(&level)?) } else { None };
    let mut failed = false;
    for input in &files {
        let result = (|| -> Result<()> {
            let sink = output_for(input, args, compress)?;
            if let Sink::File(o) = &sink {
                if same_file(input, o) {
                    bail!("{}: input and output are the same file", input.display());
                }
            }
            if compress && matches!(sink, Sink::Stdout) && std::io::stdout().is_terminal() && !args.force {
                bail!("refusing to write compressed data to a terminal; use -o, redirect, or -f");
            }
            let t = Instant::now();
            let stats = process(input, &sink, args.force, &|r, w, len| {
                // decompression reports output bytes, whose total is not known in advance
                let pb = progress_bar(if compress { len } else { None }, common.quiet);
                let tick = |n: u64| pb.set_position(n);
                let stats = match codec {
                    Some(codec) => pipeline::compress(codec, &mut &mut *r, &mut &mut *w, &opts, &tick),
                    None => pipeline::decompress(set.models(), &mut &mut *r, Some(w), threads, &tick),
                };
                pb.finish_and_clear();
                Ok(stats?)
            })
            .with_context(|| input.display().to_string())?;
            report(common, if compress { "compressed" } else { "decompressed" }, input, &stats, t.elapsed().as_secs_f64(), compress);
            // only once the output is a regular file of its own (not -c, not -o /dev/null)
            let kept = matches!(&sink, Sink::File(o) if std::fs::metadata(o).is_ok_and(|m| m.is_file()));
            if args.rm && !is_stdin(input) && kept {
                std::fs::remove_file(input).with_context(|| format!("{}: cannot remove", input.display()))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("s2s2s: {e:#}");
            failed = true;
        }
    }
    if failed {
        bail!("some files failed");
    }
    Ok(())
}

fn open(input: &Path) -> Result<Box<dyn Read>> {
    Ok(if is_stdin(input) {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(BufReader::new(File::open(input).with_context(|| format!("{}: cannot open", input.display()))?))
    })
}

fn run(cli: Cli) -> Result<()> {
    let common = &cli.common;
    match &cli.cmd {
        Cmd::Compress(a) => run_files(common, a, true),
        Cmd::Decompress(a) => run_files(common, a, false),
        Cmd::Test { files } => {
            let set = ModelSet::load(common)?;
            let files = if files.is_empty() { vec![PathBuf::from("-")] } else { files.clone() };
            for f in &files {
                let t = Instant::now();
                let stats = pipeline::decompress(set.models(), &mut open(f)?, None, threads(common.threads), &|_| {})
                    .with_context(|| f.display().to_string())?;
                report(common, "verified", f, &stats, t.elapsed().as_secs_f64(), false);
                if !common.quiet && !common.verbose {
                    eprintln!("{}: OK", f.display());
                }
            }
            Ok(())
        }
        Cmd::Info { files, components } => {
            let set = if *components { Some(ModelSet::load(common)?) } else { None };
            let files = if files.is_empty() { vec![PathBuf::from("-")] } else { files.clone() };
            for f in &files {
                let s = match &set {
                    Some(m) => pipeline::analyse(m.models(), &mut open(f)?, threads(common.threads), &|_| {}),
                    None => pipeline::inspect(&mut open(f)?),
                }
                .with_context(|| f.display().to_string())?;
                let models: Vec<String> = s
                    .model_ids
                    .iter()
                    .map(|m| match Builtin::ALL.into_iter().find(|b| hex(&b.id()) == *m) {
                        Some(b) => format!("{m} (built-in {})", b.name()),
                        None => m.clone(),
                    })
                    .collect();
                println!("{}", f.display());
                println!("  compressed     {} bytes", s.input_bytes);
                println!("  original       {} bytes", s.output_bytes);
                println!(
                    "  ratio          {:.3}  ({:.3} bits/byte)",
                    s.output_bytes as f64 / s.input_bytes.max(1) as f64,
                    8.0 * s.input_bytes as f64 / s.output_bytes.max(1) as f64
                );
                println!("  model          {}", models.join(", "));
                println!("  frames         {}", s.frames);
                let profiles: Vec<&str> = s.profiles.iter().map(|p| p.name()).collect();
                println!("  profile        {}", profiles.join(", "));
                println!(
                    "  blocks         {} neural ({} bytes), {} zstd, {} stored",
                    s.neural_blocks, s.neural_bytes, s.zstd_blocks, s.stored_blocks
                );
                println!("  tokens         {}", s.tokens);
                println!("  latent tokens  {}", s.latent_tokens);
                println!(
                    "  mismatches     {} ({:.1}% of tokens differ from greedy decoding)",
                    s.mismatches,
                    100.0 * s.mismatches as f64 / s.tokens.max(1) as f64
                );
                if let Some(saved) = s.saved_bits {
                    println!("  bits saved by each mixture component (cost of leaving it out):");
                    let network = s.profiles.iter().any(|p| *p != Profile::Adaptive);
                    for (name, bits) in s2s2s::mixer::COMPONENTS.iter().zip(saved) {
                        if *name == "network" && !network {
                            continue;
                        }
                        println!("    {name:<10} {:>12.0} bits  ({:.3} bits/byte)", bits, bits / s.output_bytes.max(1) as f64);
                    }
                }
            }
            Ok(())
        }
        Cmd::Bench { files, ablation, levels, latents } => {
            if files.is_empty() {
                bail!("bench needs at least one file");
            }
            let set = ModelSet::load(common)?;
            let threads = threads(common.threads);
            let mut configs: Vec<(String, Level)> = Vec::new();
            let default = level::level(level::DEFAULT_LEVEL).expect("the default level exists");
            if *levels {
                configs.extend((1..=9).map(|n| (format!("-{n}"), level::level(n).expect("levels 1-9"))));
            } else if *latents {
                for (name, latent) in [("empty latent", Search::Off), ("heuristic latent", Search::Heuristic), ("policy latent", Search::Policy)] {
                    configs.push((name.into(), Level { latent, ..default }));
                }
            } else {
                let profiles: &[Profile] = if *ablation { &[Profile::Neural, Profile::Adaptive, Profile::Mixed] } else { &[Profile::Mixed] };
                configs.extend(profiles.iter().map(|&profile| (profile.name().to_owned(), Level { profile, ..default })));
            }
            let setups = configs
                .iter()
                .map(|(name, l)| Ok(bench::Setup { name: format!("s2s2s {name} -T{threads}"), codec: set.for_level(l)?, opts: l.options(threads) }))
                .collect::<Result<Vec<_>>>()?;
            let mut rows = Vec::new();
            for f in files {
                rows.extend(bench::bench_file(f, &setups).with_context(|| f.display().to_string())?);
            }
            print!("{}", bench::table(&rows));
            if *latents {
                print!("\n{}", bench::latent_table(&rows));
            }
            if files.len() > 1 || setups.len() > 1 {
                print!("\n{}", bench::summary(&rows));
            }
            Ok(())
        }
        Cmd::ValidationSplit { corpus, output } => {
            std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
            for src in s2s2s::corpus::load(corpus)? {
                let path = output.join(format!("{}.val", src.name));
                std::fs::write(&path, src.validation()).with_context(|| format!("writing {}", path.display()))?;
                if !common.quiet {
                    eprintln!("{}: {} bytes", path.display(), src.validation().len());
                }
            }
            Ok(())
        }
        Cmd::Train(TrainCmd::Model(a)) => train_model(a, common),
        Cmd::Train(TrainCmd::Tokenizer { corpus, vocab, max_bytes, output }) => {
            let tok = s2s2s::train::train_tokenizer(corpus, *vocab, *max_bytes)?;
            std::fs::write(output, tok.to_json()?).with_context(|| format!("writing {}", output.display()))?;
            if !common.quiet {
                eprintln!("tokenizer with {} tokens written to {}", tok.vocab_size(), output.display());
            }
            Ok(())
        }
    }
}

fn train_model(a: &TrainArgs, common: &Common) -> Result<()> {
    std::fs::create_dir_all(&a.run).with_context(|| format!("creating {}", a.run.display()))?;
    let init = match a.init.as_deref() {
        Some(p) if p == Path::new("builtin") => {
            let dir = a.run.join("init");
            s2s2s::model::Builtin::Default.write_to(&dir).with_context(|| format!("writing {}", dir.display()))?;
            Some(dir)
        }
        other => other.map(Path::to_path_buf),
    };
    // a model keeps the tokenizer it was trained with
    let tokenizer = match (&a.tokenizer, &init) {
        (Some(t), _) => t.clone(),
        (None, Some(dir)) => dir.join("tokenizer.json"),
        (None, None) => {
            let t = a.run.join("tokenizer.json");
            std::fs::write(&t, s2s2s::model::builtin_tokenizer()).with_context(|| format!("writing {}", t.display()))?;
            t
        }
    };
    let shape = |d_model, n_heads, d_ff, enc_layers, dec_layers| s2s2s::train::Shape { d_model, n_heads, d_ff, enc_layers, dec_layers };
    let plan = s2s2s::train::Plan {
        corpus: a.corpus.clone(),
        tokenizer,
        init,
        model: shape(a.d_model, a.heads, a.d_ff, a.enc_layers, a.dec_layers),
        policy: shape(a.policy_d_model, a.policy_heads, a.policy_d_ff, a.policy_layers, a.policy_layers),
        segment: a.segment,
        context: a.context,
        max_latent: a.max_latent,
        pretrain_steps: a.pretrain_steps,
        imitate_steps: a.imitate_steps,
        rl_steps: a.rl_steps,
        batch: a.batch,
        lr: a.lr,
        policy_lr: a.policy_lr,
        seed: a.seed,
        temperature: a.temperature,
        replay: a.replay,
        clip: a.clip,
        max_bytes: a.max_bytes,
        val_segments: a.val_segments,
        checkpoint_every: a.checkpoint_every,
    };
    if common.threads > 0 {
        // candle's CPU kernels size their pool from this
        std::env::set_var("RAYON_NUM_THREADS", common.threads.to_string());
    }
    let mut t = s2s2s::train::Trainer::open(&a.run, plan).with_context(|| format!("opening run {}", a.run.display()))?;
    let ev = t.run(a.minutes)?;
    t.report(&ev, &format!("model in {}", a.run.join("model").display()));
    Ok(())
}

fn main() -> ExitCode {
    install_signal_handler();
    let cli = match Cli::try_parse_from(expand_level_flags(std::env::args_os())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // a closed pipe downstream is not an error worth reporting
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            if e.to_string() != "some files failed" {
                eprintln!("s2s2s: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: &[&str]) -> Vec<String> {
        expand_level_flags(args.iter().map(|a| a.into())).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn level_flags_expand_like_gzip() {
        assert_eq!(expand(&["s2s2s", "compress", "-9", "f"]), ["s2s2s", "compress", "--level=9", "f"]);
        assert_eq!(expand(&["s2s2s", "c", "-3cv"]), ["s2s2s", "c", "--level=3", "-cv"]);
        // not level flags: other short options, numbers after `--`, -0
        assert_eq!(expand(&["s2s2s", "-T2", "-0", "--", "-5"]), ["s2s2s", "-T2", "-0", "--", "-5"]);
    }
}
