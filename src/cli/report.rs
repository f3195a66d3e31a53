//! What the CLI prints besides errors: progress bars and `-v` lines.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use s2s2s::Stats;

use super::files::Direction;

/// A progress bar on a terminal for inputs large enough to be worth one, else a hidden one.
pub fn progress_bar(len: Option<u64>, quiet: bool) -> ProgressBar {
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

/// The `-v` line of one file: sizes, bits per byte, speed.
pub fn verbose_line(what: &str, name: &Path, stats: &Stats, secs: f64, dir: Direction) -> String {
    let (orig, packed) = match dir {
        Direction::Compress => (stats.input_bytes, stats.output_bytes),
        Direction::Decompress => (stats.output_bytes, stats.input_bytes),
    };
    format!(
        "{}: {what} {orig} -> {packed} bytes, {:.3} bits/byte, {:.1} KB/s",
        name.display(),
        8.0 * packed as f64 / orig.max(1) as f64,
        orig as f64 / 1000.0 / secs.max(1e-9)
    )
}
