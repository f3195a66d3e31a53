//! `info` (and `-l`): what a container holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use s2s2s::{pipeline, Builtin, Profile, Stats};

use super::super::args::Common;
use super::super::files::{inputs_or_stdin, Source};
use super::super::{error_line, registry, threads};

/// Lists each file: one line (a table with totals, as `xz -l`), every detail with `-v` or
/// `--components`, or JSON with `--json`. A file that cannot be read is reported and the rest go
/// on; the exit code says whether any failed.
pub fn run(common: &Common, files: &[PathBuf], components: bool, json: bool) -> Result<ExitCode> {
    let registry = if components { Some(registry(common)?) } else { None };
    let detailed = common.verbose || components;
    let files = inputs_or_stdin(files);
    let (mut listed, mut failed) = (Vec::new(), false);
    for f in &files {
        let name = f.display().to_string();
        let s = Source::open(f).and_then(|mut src| {
            match &registry {
                Some(m) => pipeline::analyse(m, &mut src.reader, threads(common), &|_| {}),
                None => pipeline::inspect(&mut src.reader),
            }
            .with_context(|| name.clone())
        });
        match s {
            Ok(s) if json => listed.push((name, s)),
            Ok(s) if detailed => print!("{}", report(&name, &s)),
            Ok(s) => {
                if listed.is_empty() {
                    println!("{}", line(["compressed", "original", "ratio", "bits/byte", "method", "file"].map(String::from)));
                }
                println!("{}", line(columns(&s, &name)));
                listed.push((name, s));
            }
            Err(e) => {
                eprintln!("{}", error_line(&e));
                failed = true;
            }
        }
    }
    let (packed, original) = listed.iter().fold((0, 0), |(p, o), (_, s)| (p + s.input_bytes, o + s.output_bytes));
    if json {
        let files: Vec<serde_json::Value> = listed.iter().map(|(name, s)| to_json(name, s)).collect();
        let total = serde_json::json!({ "files": files.len(), "compressed": packed, "original": original });
        println!("{}", serde_json::json!({ "files": files, "total": total }));
    } else if !detailed && listed.len() > 1 {
        let total = Stats { input_bytes: packed, output_bytes: original, ..Stats::default() };
        let mut cols = columns(&total, &format!("{} files", listed.len()));
        cols[4] = String::new();
        println!("{}", line(cols));
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// A row of the listing: compressed, original, ratio (compressed / original), bits per byte,
/// method, name.
fn columns(s: &Stats, name: &str) -> [String; 6] {
    let ratio = s.input_bytes as f64 / s.output_bytes.max(1) as f64;
    [
        s.input_bytes.to_string(),
        s.output_bytes.to_string(),
        format!("{:.2}%", 100.0 * ratio),
        format!("{:.3}", 8.0 * ratio),
        method(s),
        name.to_owned(),
    ]
}

fn line(c: [String; 6]) -> String {
    format!("{:>12} {:>12} {:>7} {:>10}  {:<20} {}", c[0], c[1], c[2], c[3], c[4], c[5]).trim_end().to_owned()
}

/// How a file was coded, in a word or two: its profiles and built-in networks.
fn method(s: &Stats) -> String {
    let profiles: Vec<&str> = s.profiles.iter().map(|p| p.name()).collect();
    let models: Vec<String> = s.model_ids.iter().map(model_name).collect();
    match (profiles.is_empty(), models.is_empty()) {
        (true, _) => "empty".into(),
        (false, true) => profiles.join("+"),
        (false, false) => format!("{} ({})", profiles.join("+"), models.join(", ")),
    }
}

/// A built-in network's name, or the start of another model's identity.
fn model_name(id: &s2s2s::ModelId) -> String {
    match Builtin::from_id(id) {
        Some(b) => b.name().to_owned(),
        None => format!("{:.8}", id.to_string()),
    }
}

/// One file as JSON: every figure of the detailed report.
fn to_json(name: &str, s: &Stats) -> serde_json::Value {
    let models: Vec<serde_json::Value> =
        s.model_ids.iter().map(|m| serde_json::json!({ "id": m.to_string(), "builtin": Builtin::from_id(m).map(|b| b.name()) })).collect();
    let saved: serde_json::Map<String, serde_json::Value> = s.saved_bits.iter().map(|(n, b)| ((*n).to_owned(), (*b).into())).collect();
    serde_json::json!({
        "file": name,
        "compressed": s.input_bytes,
        "original": s.output_bytes,
        "bits_per_byte": 8.0 * s.input_bytes as f64 / s.output_bytes.max(1) as f64,
        "frames": s.frames,
        "profiles": s.profiles.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "arithmetic": s.ariths.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "models": models,
        "blocks": { "neural": s.neural_blocks, "cm": s.cm_blocks, "zstd": s.zstd_blocks, "stored": s.stored_blocks },
        "tokens": s.tokens,
        "latent_tokens": s.latent_tokens,
        "mismatches": s.mismatches,
        "saved_bits": saved,
    })
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
