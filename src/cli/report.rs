//! What the CLI prints besides errors: progress on a terminal, and each file's summary line and
//! the totals.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use s2s2s::Stats;

use super::files::Direction;

/// Progress on a terminal (none when quiet or when standard error is not one): it appears at
/// once and redraws every 200 ms, with the percentage, speed and time left where the total is
/// known (`len`: the input's bytes), the bytes and elapsed time where it is not.
pub fn progress_bar(len: Option<u64>, quiet: bool, dir: Direction) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (pb, template) = match len {
        // (decompressing, the position is compressed bytes read: a rate of those would mislead)
        Some(l) => (
            ProgressBar::new(l),
            match dir {
                Direction::Compress => {
                    "{prefix} [{bar:24}] {percent:>3}%  {bytes}/{total_bytes}  {bytes_per_sec}  {elapsed} elapsed, ETA {eta}"
                }
                Direction::Decompress => "{prefix} [{bar:24}] {percent:>3}%  {elapsed} elapsed, ETA {eta}",
            },
        ),
        None => (ProgressBar::new_spinner(), "{prefix} {spinner} {bytes}  {elapsed} elapsed"),
    };
    pb.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Whether a file's summary line is printed: with `-v`, or on a terminal (as zstd does), never
/// with `-q`.
pub fn summaries(verbose: bool, quiet: bool) -> bool {
    !quiet && (verbose || std::io::stderr().is_terminal())
}

/// What a run of several files adds up to.
#[derive(Default)]
pub struct Totals {
    pub files: u64,
    pub failed: u64,
    pub original: u64,
    pub packed: u64,
    pub secs: f64,
}

impl Totals {
    /// Counts one file done.
    pub fn add(&mut self, stats: &Stats, secs: f64, dir: Direction) {
        let (original, packed) = sizes(stats, dir);
        self.files += 1;
        self.original += original;
        self.packed += packed;
        self.secs += secs;
    }

    /// The totals line (for more than one file).
    pub fn line(&self, what: &str) -> String {
        let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
        format!("total: {} files {what}{failed}, {}", self.files, figures(self.original, self.packed, self.secs))
    }
}

/// (original, compressed) bytes of a file coded in direction `dir`.
fn sizes(stats: &Stats, dir: Direction) -> (u64, u64) {
    match dir {
        Direction::Compress => (stats.input_bytes, stats.output_bytes),
        Direction::Decompress => (stats.output_bytes, stats.input_bytes),
    }
}

/// `1000 -> 250 bytes (25.00%, 2.000 bits/byte) in 1.2 s, 0.8 KB/s`.
fn figures(original: u64, packed: u64, secs: f64) -> String {
    format!(
        "{original} -> {packed} bytes ({:.2}%, {:.3} bits/byte) in {secs:.1} s, {:.1} KB/s",
        100.0 * packed as f64 / original.max(1) as f64,
        8.0 * packed as f64 / original.max(1) as f64,
        original as f64 / 1000.0 / secs.max(1e-9)
    )
}

/// The summary line of one file: sizes, ratio, bits per byte, time, speed, the level it was
/// compressed at, and the process's peak memory so far.
pub fn summary_line(what: &str, name: &Path, stats: &Stats, secs: f64, dir: Direction, level: Option<u8>) -> String {
    let (original, packed) = sizes(stats, dir);
    let level = level.map_or(String::new(), |l| format!(", level {l}"));
    let memory = peak_memory_mib().map_or(String::new(), |m| format!(", peak memory {m} MiB"));
    let name = if super::files::is_stdin(name) { "(stdin)".into() } else { name.display().to_string() };
    format!("{name}: {what} {}{level}{memory}", figures(original, packed, secs))
}

/// The process's peak resident memory in MiB, where the system reports it (Linux).
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib.div_ceil(1024))
}
