//! The command line as clap parses it (the low level: as close to the flags as possible). The
//! one definition from which `--help`, the man page and the shell completions are generated.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use s2s2s::{format, LatentSearch, NetArith, Profile};

/// Lossless compressor for text: bitwise context mixing with a small built-in transformer network as one of its inputs.
///
/// Used like gzip or xz: `s2s2s FILE` compresses to FILE.s2s, `s2s2s -d FILE.s2s` restores
/// FILE, and with no file it filters standard input to standard output (`tar -I s2s2s` works;
/// S2S2S_LEVEL and S2S2S_THREADS set what it cannot pass as flags). Levels 1-2 are context mixing
/// alone (250-400 KB/s); levels 3-9 add the network (the default, 6: about 30 KB/s on two
/// cores, 12% smaller on English text). Any level's file decompresses without flags.
#[derive(Parser)]
#[command(name = "s2s2s", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub mode: ModeFlags,
    #[command(flatten)]
    pub io: FileArgs,
    #[command(flatten)]
    pub common: Common,
    /// Print a man page or a shell completion script to standard output, and exit.
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    pub generate: Option<Generate>,
}

impl Cli {
    /// Whether gzip-style operation flags or top-level file arguments were given (which a
    /// subcommand does not combine with).
    pub fn uses_flag_mode(&self) -> bool {
        let m = &self.mode;
        m.compress || m.decompress || m.test || m.list || !self.io.files.is_empty() || self.io.output.is_some() || self.io.stdout
    }
}

/// What `--generate` writes.
#[derive(Clone, Copy, ValueEnum)]
pub enum Generate {
    Man,
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// gzip-style operation flags, for use without a subcommand.
#[derive(Args)]
#[group(multiple = false)]
pub struct ModeFlags {
    /// Compress (the default).
    #[arg(short = 'z', long = "compress")]
    pub compress: bool,
    /// Decompress.
    #[arg(short = 'd', long = "decompress", visible_alias = "uncompress")]
    pub decompress: bool,
    /// Test the integrity of compressed files.
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// List information about compressed files.
    #[arg(short = 'l', long = "list")]
    pub list: bool,
}

#[derive(Args, Clone)]
pub struct Common {
    /// Model directory (tokenizer.json, config.json, model.safetensors) instead of the built-in one.
    #[arg(long, global = true, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Worker threads (0 = all cores; default: S2S2S_THREADS, else 0). The output does not depend on it.
    #[arg(short = 'T', long, global = true)]
    pub threads: Option<usize>,
    /// Print nothing but errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print each file's sizes, ratio, time, speed and peak memory, and totals (`info`: every detail).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Args)]
pub struct FileArgs {
    /// Files to process; none or `-` means standard input to standard output.
    pub files: Vec<PathBuf>,
    /// Write to this file (one input only).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write to standard output.
    #[arg(short = 'c', long)]
    pub stdout: bool,
    /// Overwrite existing output files.
    #[arg(short, long)]
    pub force: bool,
    /// Remove each source file after its output is complete.
    #[arg(long)]
    pub rm: bool,
    /// Keep source files (the default; accepted for compatibility).
    #[arg(short, long)]
    pub keep: bool,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Compression settings beyond the level (ignored when decompressing: the file records them).
#[derive(Args, Clone)]
pub struct Tuning {
    /// Compression level, 1 (fastest) to 9 (smallest); also -1 ... -9 (default: S2S2S_LEVEL, else 6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub level: Option<u8>,
    /// How token probabilities are computed, instead of the level's.
    #[arg(long, value_enum)]
    pub profile: Option<ProfileArg>,
    /// Neural block size instead of the level's, e.g. 64K or 1M (at most 1M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub block_size: Option<usize>,
    /// How each segment's latent is chosen, instead of the level's (policy: the model's
    /// latent policy; each segment keeps a latent only where its exact code length is smaller).
    #[arg(long, value_enum)]
    pub latent: Option<LatentArg>,
    /// Context-mixing lanes instead of the level's (levels 1-2 and 4-9): blocks are dealt to
    /// them in turn and they run in parallel; lanes added to level 1 each learn only their own
    /// blocks (the fastest), those added to other levels share what they learn, a group of
    /// blocks late. Fewer lanes compress more.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub lanes: Option<u8>,
    /// Blocks each lane codes at once instead of the level's (levels 4-9): the network steps
    /// them together; fewer at once compress more, more can run faster.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=32))]
    pub streams: Option<u8>,
    /// The network's arithmetic instead of the level's (levels 4-9): int8 (exact integer sums,
    /// faster) or f32 (format version 9's).
    #[arg(long, value_enum)]
    pub arith: Option<ArithArg>,
}

/// The network's arithmetics as the command line names them.
#[derive(Clone, Copy, ValueEnum)]
pub enum ArithArg {
    Int8,
    F32,
}

impl From<ArithArg> for NetArith {
    fn from(a: ArithArg) -> Self {
        match a {
            ArithArg::Int8 => NetArith::Int8,
            ArithArg::F32 => NetArith::F32,
        }
    }
}

/// Latent searches as the command line names them.
#[derive(Clone, Copy, ValueEnum)]
pub enum LatentArg {
    /// Always the empty latent.
    Off,
    /// Each segment's costliest tokens.
    Heuristic,
    /// The model's RL-trained policy.
    Policy,
}

impl From<LatentArg> for LatentSearch {
    fn from(l: LatentArg) -> Self {
        match l {
            LatentArg::Off => LatentSearch::Off,
            LatentArg::Heuristic => LatentSearch::Heuristic,
            LatentArg::Policy => LatentSearch::Policy,
        }
    }
}

/// Numeric profiles as the command line names them.
#[derive(Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// The network as one input of bitwise context mixing over the whole file (best ratio).
    Hybrid,
    /// The network mixed with adaptive token models of each block.
    Mixed,
    /// The network alone.
    Neural,
    /// Token-level adaptive models alone (the fast levels before format version 4).
    Adaptive,
    /// Bitwise context mixing, no network: the fast levels.
    Cm,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Hybrid => Profile::Hybrid,
            ProfileArg::Mixed => Profile::Mixed,
            ProfileArg::Neural => Profile::Neural,
            ProfileArg::Adaptive => Profile::Adaptive,
            ProfileArg::Cm => Profile::Cm,
        }
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (num, unit) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1 << 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    let n: usize = num.parse().map_err(|_| format!("not a size: {s}"))?;
    match n.checked_mul(unit) {
        Some(b) if (1..=format::MAX_NEURAL_BLOCK as usize).contains(&b) => Ok(b),
        _ => Err(format!("{s}: block size must be between 1 and 1M")),
    }
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Compress FILE to FILE.s2s.
    #[command(visible_alias = "c")]
    Compress(FileArgs),
    /// Decompress FILE.s2s to FILE.
    #[command(visible_alias = "d")]
    Decompress(FileArgs),
    /// Verify .s2s files by decompressing them without writing anything.
    #[command(visible_alias = "t")]
    Test { files: Vec<PathBuf> },
    /// List .s2s files: one line each (sizes, ratio, bits/byte, method), and totals; -v: every detail.
    Info {
        files: Vec<PathBuf>,
        /// Machine-readable: a JSON object per file and the totals.
        #[arg(long)]
        json: bool,
        /// Also decode each file and report the bits each mixture component saved (slow).
        #[arg(long)]
        components: bool,
    },
    /// Compare s2s2s with gzip, bzip2, xz, zstd, and bzip3, lpaq1, zpaq, paq8px and PPMd where installed (one table, one run).
    Bench {
        files: Vec<PathBuf>,
        /// Measure every numeric profile (context mixing alone, network alone, adaptive token models alone, the
        /// network mixed with them, the network within context mixing), not only the default: the ablation.
        #[arg(long)]
        ablation: bool,
        /// Measure every level, 1 to 9.
        #[arg(long, conflicts_with_all = ["ablation", "level"])]
        levels: bool,
        /// The latent's ablation: level 3 with the profile that codes latents (`--profile
        /// mixed`), with the empty, heuristic and policy latents.
        #[arg(long, conflicts_with_all = ["ablation", "levels", "level", "profile", "latent"])]
        latents: bool,
        /// The level measured (and the base of `--ablation`; with `--levels`, the overrides
        /// apply to every level).
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Write the held-out validation part of each corpus source to DIR (never trained on).
    #[cfg(feature = "train")]
    ValidationSplit {
        #[arg(long, default_value = "../shared/corpus")]
        corpus: PathBuf,
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
    /// Train a tokenizer or a model (see `s2s2s train model --help`).
    #[cfg(feature = "train")]
    #[command(subcommand)]
    Train(Box<TrainCmd>),
}

#[cfg(feature = "train")]
#[derive(Subcommand)]
pub enum TrainCmd {
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
    Model(Box<TrainArgs>),
}

#[cfg(feature = "train")]
#[derive(Args)]
pub struct TrainArgs {
    /// Run directory: plan, checkpoint, token cache, log and the exported model.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    #[arg(long, default_value = "../shared/corpus")]
    pub corpus: PathBuf,
    /// tokenizer.json (default: the --init model's, else the built-in models' one).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Start from this model directory instead of from scratch (`builtin`: the default model);
    /// its shape, segment, context and latent length then replace the flags'.
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    #[arg(long, default_value_t = 256)]
    pub d_model: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    #[arg(long, default_value_t = 512)]
    pub d_ff: usize,
    #[arg(long, default_value_t = 2)]
    pub enc_layers: usize,
    #[arg(long, default_value_t = 2)]
    pub dec_layers: usize,
    /// Policy network: width, heads, feed-forward, layers (each side).
    #[arg(long, default_value_t = 128)]
    pub policy_d_model: usize,
    #[arg(long, default_value_t = 2)]
    pub policy_heads: usize,
    #[arg(long, default_value_t = 256)]
    pub policy_d_ff: usize,
    #[arg(long, default_value_t = 1)]
    pub policy_layers: usize,
    #[arg(long, default_value_t = 128)]
    pub segment: usize,
    #[arg(long, default_value_t = 128)]
    pub context: usize,
    #[arg(long, default_value_t = 16)]
    pub max_latent: usize,
    #[arg(long, default_value_t = 2000)]
    pub pretrain_steps: usize,
    #[arg(long, default_value_t = 300)]
    pub imitate_steps: usize,
    #[arg(long, default_value_t = 300)]
    pub rl_steps: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-3)]
    pub policy_lr: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sampling temperature of the behaviour policy.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Replay buffer capacity (policy samples).
    #[arg(long, default_value_t = 2048)]
    pub replay: usize,
    /// Importance weights are clipped at this.
    #[arg(long, default_value_t = 2.0)]
    pub clip: f64,
    /// Bytes of each source read (0: all).
    #[arg(long, default_value_t = 0)]
    pub max_bytes: usize,
    /// Validation segments per source at each evaluation.
    #[arg(long, default_value_t = 16)]
    pub val_segments: usize,
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Stop (after a checkpoint) when this many minutes have passed; run again to resume.
    #[arg(long)]
    pub minutes: Option<f64>,
}

/// Rewrites gzip-style level flags (`-9`, `-9v`) as `--level=9` (`-v`), up to a `--`.
pub fn expand_level_flags(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn expand(args: &[&str]) -> Vec<String> {
        expand_level_flags(args.iter().map(|a| a.into())).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(expand_level_flags(args.iter().map(|a| a.into())))
    }

    #[test]
    fn level_flags_expand_like_gzip() {
        assert_eq!(expand(&["s2s2s", "compress", "-9", "f"]), ["s2s2s", "compress", "--level=9", "f"]);
        assert_eq!(expand(&["s2s2s", "c", "-3cv"]), ["s2s2s", "c", "--level=3", "-cv"]);
        // not level flags: other short options, numbers after `--`, -0
        assert_eq!(expand(&["s2s2s", "-T2", "-0", "--", "-5"]), ["s2s2s", "-T2", "-0", "--", "-5"]);
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unix_compressor_conventions_parse() {
        let c = parse(&["s2s2s"]).unwrap();
        assert!(c.cmd.is_none() && c.io.files.is_empty() && !c.mode.decompress);
        let c = parse(&["s2s2s", "-dc", "f.s2s"]).unwrap();
        assert!(c.mode.decompress && c.io.stdout && c.io.files == [PathBuf::from("f.s2s")]);
        let c = parse(&["s2s2s", "-9c", "f"]).unwrap();
        assert!(c.io.stdout && c.io.tuning.level == Some(9));
        assert!(parse(&["s2s2s", "-t", "a.s2s", "b.s2s"]).unwrap().mode.test);
        assert!(parse(&["s2s2s", "-l", "a.s2s"]).unwrap().mode.list);
        assert!(parse(&["s2s2s", "-d", "-t"]).is_err(), "one operation at a time");
        let c = parse(&["s2s2s", "-v", "compress", "f"]).unwrap();
        assert!(c.common.verbose && matches!(c.cmd, Some(Cmd::Compress(_))), "global flags go anywhere");
        assert!(!c.uses_flag_mode());
        assert!(parse(&["s2s2s", "-d", "compress", "f"]).unwrap().uses_flag_mode(), "run() refuses both");
    }
}
