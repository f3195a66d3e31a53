//! The benchmark table: s2s2s beside gzip, bzip2, xz and zstd on the same files, in one run.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::pipeline::{self, Codec, Options};

/// One measured row.
#[derive(Clone, Debug)]
pub struct Row {
    pub file: String,
    pub tool: String,
    pub original: u64,
    pub compressed: u64,
    pub compress_s: f64,
    pub decompress_s: f64,
}

impl Row {
    /// Bits per byte: 8 × compressed / original.
    pub fn bpb(&self) -> f64 {
        8.0 * self.compressed as f64 / self.original.max(1) as f64
    }
    fn kbps(&self, s: f64) -> f64 {
        self.original as f64 / 1000.0 / s.max(1e-9)
    }
}

fn run_tool(args: &[&str], input: &[u8]) -> Result<(Vec<u8>, f64)> {
    let t = Instant::now();
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", args[0]))))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    feeder.join().map_err(|_| Error::Model("stdin writer panicked".into()))??;
    if !out.status.success() {
        return Err(Error::Model(format!("{} failed", args[0])));
    }
    Ok((out.stdout, t.elapsed().as_secs_f64()))
}

/// The classical compressors measured beside s2s2s: (name, compress args, decompress args).
const TOOLS: &[(&str, &[&str], &[&str])] = &[
    ("gzip -9", &["gzip", "-9", "-c"], &["gzip", "-d", "-c"]),
    ("bzip2 -9", &["bzip2", "-9", "-c"], &["bzip2", "-d", "-c"]),
    ("xz -9", &["xz", "-9", "-c", "-T1"], &["xz", "-d", "-c"]),
    ("zstd -19", &["zstd", "-19", "-c", "-q"], &["zstd", "-d", "-c", "-q"]),
];

/// Measures s2s2s and every available classical tool on `file`; round trips are checked.
pub fn bench_file(codec: &Codec, file: &Path, opts: &Options) -> Result<Vec<Row>> {
    let data = std::fs::read(file)?;
    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut rows = Vec::new();
    let t = Instant::now();
    let mut packed = Vec::new();
    pipeline::compress(codec, &mut &data[..], &mut packed, opts, &|_| {})?;
    let compress_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut unpacked = Vec::new();
    pipeline::decompress(codec, &mut &packed[..], Some(&mut unpacked), opts.threads, &|_| {})?;
    let decompress_s = t.elapsed().as_secs_f64();
    if unpacked != data {
        return Err(Error::Corrupt("benchmark round trip differs"));
    }
    rows.push(Row {
        file: name.clone(),
        tool: format!("s2s2s -T{}", opts.threads),
        original: data.len() as u64,
        compressed: packed.len() as u64,
        compress_s,
        decompress_s,
    });
    for (tool, c, d) in TOOLS {
        let Ok((packed, cs)) = run_tool(c, &data) else { continue };
        let (unpacked, ds) = run_tool(d, &packed)?;
        if unpacked != data {
            return Err(Error::Corrupt("a reference tool's round trip differs"));
        }
        rows.push(Row {
            file: name.clone(),
            tool: (*tool).to_string(),
            original: data.len() as u64,
            compressed: packed.len() as u64,
            compress_s: cs,
            decompress_s: ds,
        });
    }
    Ok(rows)
}

/// Formats rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| file | compressor | original | compressed | bits/byte | compress KB/s | decompress KB/s |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {:.3} | {:.1} | {:.1} |\n",
            r.file,
            r.tool,
            r.original,
            r.compressed,
            r.bpb(),
            r.kbps(r.compress_s),
            r.kbps(r.decompress_s)
        );
    }
    s
}
