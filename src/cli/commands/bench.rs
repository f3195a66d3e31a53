//! `bench`: s2s2s beside the reference compressors, in one run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use s2s2s::engine::Kernel;
use s2s2s::level::Overrides;
use s2s2s::{LatentSearch, Level, Profile};

use super::super::args::{Common, Tuning};
use super::super::bench::{bench_file, latent_table, summary, table, Setup};
use super::super::{registry, threads};

/// Which s2s2s configurations a benchmark measures.
pub enum Matrix {
    /// One level: the default, or the one asked for (`bench -2 FILE`).
    Default,
    /// Every numeric profile at that level (the mixer's ablation).
    Profiles,
    /// Levels 1 to 9.
    Levels,
    /// Level 3 with the profile that codes latents, with each latent search.
    Latents,
}

impl Matrix {
    pub fn of(ablation: bool, levels: bool, latents: bool) -> Self {
        match (ablation, levels, latents) {
            (true, _, _) => Matrix::Profiles,
            (_, true, _) => Matrix::Levels,
            (_, _, true) => Matrix::Latents,
            _ => Matrix::Default,
        }
    }

    /// The configurations, each with its row label, at the level and with the overrides of
    /// `tuning`.
    fn configs(&self, tuning: &Tuning) -> Vec<(String, Level)> {
        let level = |n: u8, o: Overrides| Level::get(n).expect("levels 1-9").with_overrides(o);
        match self {
            Matrix::Default => {
                let l = tuning.level();
                vec![(format!("-{} {}", tuning.number(), l.profile.name()), l)]
            }
            Matrix::Profiles => [Profile::Cm, Profile::Neural, Profile::Adaptive, Profile::Mixed, Profile::Hybrid]
                .iter()
                .map(|&p| (p.name().to_owned(), level(tuning.number(), Overrides { profile: Some(p), ..tuning.overrides() })))
                .collect(),
            Matrix::Levels => (1..=9).map(|n| (format!("-{n}"), level(n, tuning.overrides()))).collect(),
            Matrix::Latents => {
                // level 3 with the profile that codes latents (every level's own profile codes none)
                let three = level(3, Overrides { profile: Some(Profile::Mixed), ..tuning.overrides() });
                [
                    ("empty latent", LatentSearch::Off),
                    ("heuristic latent", LatentSearch::Heuristic),
                    ("policy latent", LatentSearch::Policy),
                ]
                .into_iter()
                .map(|(name, latent)| (name.to_owned(), Level { latent, ..three }))
                .collect()
            }
        }
    }
}

pub fn run(common: &Common, files: &[PathBuf], matrix: Matrix, tuning: &Tuning) -> Result<ExitCode> {
    if files.is_empty() {
        bail!("bench needs at least one file");
    }
    let registry = registry(common)?;
    let threads = threads(common);
    let setups = matrix
        .configs(tuning)
        .into_iter()
        .map(|(name, l)| Ok(Setup { name: format!("s2s2s {name} -T{threads}"), model: registry.for_level(&l)?, opts: l.options(threads) }))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    for f in files {
        rows.extend(bench_file(f, &setups).with_context(|| f.display().to_string())?);
    }
    // (speeds depend on the kernel the CPU gets: say which, as the figures' context)
    println!("s2s2s {}, kernel {}, {threads} threads\n", env!("CARGO_PKG_VERSION"), Kernel::best().name());
    print!("{}", table(&rows));
    if matches!(matrix, Matrix::Latents) {
        print!("\n{}", latent_table(&rows));
    }
    if files.len() > 1 || setups.len() > 1 {
        print!("\n{}", summary(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
