//! Settings from the environment, for runs that cannot pass flags (`tar -I s2s2s`, build
//! systems): `S2S2S_LEVEL` and `S2S2S_THREADS`, as zstd reads `ZSTD_CLEVEL` and `ZSTD_NBTHREADS`.
//! A flag on the command line wins. (`S2S2S_KERNEL` is the library's: see `engine::Kernel`.)

use std::sync::OnceLock;

use anyhow::{bail, Result};

/// The environment's settings, checked once at start-up.
#[derive(Clone, Copy, Default)]
pub struct Env {
    pub level: Option<u8>,
    pub threads: Option<usize>,
}

static ENV: OnceLock<Env> = OnceLock::new();

/// Reads and checks the variables: a malformed one is an error, not silently ignored.
pub fn load() -> Result<()> {
    let level = var("S2S2S_LEVEL", |s| s.parse().ok().filter(|l| (1..=9).contains(l)), "a level from 1 to 9")?;
    let threads = var("S2S2S_THREADS", |s| s.parse().ok(), "a number of threads (0 = all cores)")?;
    let _ = ENV.set(Env { level, threads });
    Ok(())
}

/// The settings [`load`] read (none before it ran).
pub fn get() -> Env {
    ENV.get().copied().unwrap_or_default()
}

fn var<T>(name: &str, parse: impl Fn(&str) -> Option<T>, expected: &str) -> Result<Option<T>> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => match parse(s.trim()) {
            Some(v) => Ok(Some(v)),
            None => bail!("{name}={s}: expected {expected}"),
        },
        Err(_) => bail!("{name}: not valid UTF-8"),
    }
}
