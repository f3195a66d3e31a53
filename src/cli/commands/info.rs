//! `info` (and `-l`): what a container holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use s2s2s::{pipeline, Builtin, Profile, Stats};

use super::super::args::Common;
use super::super::files::{inputs_or_stdin, Source};
use super::super::{registry, threads};

pub fn run(common: &Common, files: &[PathBuf], components: bool) -> Result<ExitCode> {
    let registry = if components { Some(registry(common)?) } else { None };
    for f in &inputs_or_stdin(files) {
        let mut src = Source::open(f)?;
        let s = match &registry {
            Some(m) => pipeline::analyse(m, &mut src.reader, threads(common.threads), &|_| {}),
            None => pipeline::inspect(&mut src.reader),
        }
        .with_context(|| f.display().to_string())?;
        print!("{}", report(&f.display().to_string(), &s));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report of one file.
pub fn report(name: &str, s: &Stats) -> String {
    let models: Vec<String> = s
        .model_ids
        .iter()
        .map(|m| match Builtin::from_id(m) {
            Some(b) => format!("{m} (built-in {})", b.name()),
            None => m.to_string(),
        })
        .collect();
    let ariths: Vec<&str> = s.ariths.iter().map(|a| a.name()).collect();
    let profiles: Vec<String> = s
        .profiles
        .iter()
        .map(|p| match p {
            Profile::Hybrid => format!("hybrid (network in {})", ariths.join(" and ")),
            _ => p.name().to_owned(),
        })
        .collect();
    let mut out = format!("{name}\n");
    out += &format!("  compressed     {} bytes\n", s.input_bytes);
    out += &format!("  original       {} bytes\n", s.output_bytes);
    out += &format!(
        "  ratio          {:.3}  ({:.3} bits/byte)\n",
        s.output_bytes as f64 / s.input_bytes.max(1) as f64,
        8.0 * s.input_bytes as f64 / s.output_bytes.max(1) as f64
    );
    out += &format!("  model          {}\n", if models.is_empty() { "none".to_owned() } else { models.join(", ") });
    out += &format!("  frames         {}\n", s.frames);
    out += &format!("  profile        {}\n", profiles.join(", "));
    let cm = if s.cm_blocks > 0 { format!("{} cm ({} bytes), ", s.cm_blocks, s.cm_bytes) } else { String::new() };
    out += &format!(
        "  blocks         {} neural ({} bytes), {cm}{} zstd, {} stored\n",
        s.neural_blocks, s.neural_bytes, s.zstd_blocks, s.stored_blocks
    );
    out += &format!("  tokens         {}\n", s.tokens);
    out += &format!("  latent tokens  {}\n", s.latent_tokens);
    out += &format!(
        "  mismatches     {} ({:.1}% of tokens differ from greedy decoding)\n",
        s.mismatches,
        100.0 * s.mismatches as f64 / s.tokens.max(1) as f64
    );
    if !s.saved_bits.is_empty() {
        out += "  bits saved by each component (the extra cost of coding without it):\n";
        let network = s.profiles.iter().any(|p| p.uses_network());
        for (name, bits) in &s.saved_bits {
            if *name != "network" || network {
                out += &format!("    {name:<10} {:>12.0} bits  ({:.3} bits/byte)\n", bits, bits / s.output_bytes.max(1) as f64);
            }
        }
    }
    out
}
