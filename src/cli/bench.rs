//! The benchmark: measuring, and the tables: s2s2s beside gzip, bzip2, xz, zstd, and bzip3,
//! lpaq1, zpaq, paq8px and PPMd where installed, on the same files, in one run.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use s2s2s::{pipeline, ModelRegistry, ModelResolver, Options, PreparedModel};

/// One measured row.
#[derive(Clone, Debug)]
pub struct Row {
    pub file: String,
    pub tool: String,
    pub original: u64,
    pub compressed: u64,
    pub compress_s: f64,
    pub decompress_s: f64,
    /// What s2s2s did (its rows only).
    pub stats: Option<pipeline::Stats>,
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
    run_tool_in(None, args, input)
}

/// Runs `args` (in `dir` if given) with `input` on stdin; returns stdout and the wall time.
fn run_tool_in(dir: Option<&Path>, args: &[&str], input: &[u8]) -> Result<(Vec<u8>, f64)> {
    let t = Instant::now();
    let mut cmd = Command::new(args[0]);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| args[0].to_owned())?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    feeder.join().map_err(|_| anyhow::anyhow!("{}: the stdin writer panicked", args[0]))??;
    if !out.status.success() {
        bail!("{} failed", args[0]);
    }
    Ok((out.stdout, t.elapsed().as_secs_f64()))
}

/// The classical compressors measured beside s2s2s: (name, compress args, decompress args).
const TOOLS: &[(&str, &[&str], &[&str])] = &[
    ("gzip -9", &["gzip", "-9", "-c"], &["gzip", "-d", "-c"]),
    ("bzip2 -9", &["bzip2", "-9", "-c"], &["bzip2", "-d", "-c"]),
    ("xz -9", &["xz", "-9", "-c", "-T1"], &["xz", "-d", "-c"]),
    ("zstd -19", &["zstd", "-19", "-c", "-q"], &["zstd", "-d", "-c", "-q"]),
    // (where installed: Debian's `bzip3`; one thread, as the others)
    ("bzip3", &["bzip3", "-e", "-c", "-j", "1"], &["bzip3", "-d", "-c", "-j", "1"]),
];

/// Context-mixing compressors that work on files, measured where installed (lpaq1 and paq8px:
/// `../shared/tools/build.sh`; zpaq: Debian's package): (name, compress args, decompress args,
/// the decompressed file), run in a temporary directory holding the input as `data`. paq8px
/// runs at a few KB/s: a megabyte takes it minutes each way.
const FILE_TOOLS: &[(&str, &[&str], &[&str], &str)] = &[
    ("lpaq1 9", &["lpaq1", "9", "data", "packed"], &["lpaq1", "d", "packed", "unpacked"], "unpacked"),
    ("zpaq -m5", &["zpaq", "a", "packed.zpaq", "data", "-m5"], &["zpaq", "x", "packed.zpaq", "-to", "out"], "out/data"),
    ("paq8px -8", &["paq8px", "-8", "data", "packed.paq8px216"], &["paq8px", "-d", "packed.paq8px216", "unpacked"], "unpacked"),
];

/// Measures one of [`FILE_TOOLS`]: `None` when it is not installed.
fn file_tool(data: &[u8], compress: &[&str], decompress: &[&str], unpacked: &str) -> Result<Option<(u64, f64, f64)>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("data"), data)?;
    let Ok((_, cs)) = run_tool_in(Some(dir.path()), compress, &[]) else { return Ok(None) };
    let packed = compress.iter().find(|a| a.starts_with("packed")).context("a packed file")?;
    let size = std::fs::metadata(dir.path().join(packed))?.len();
    std::fs::remove_file(dir.path().join("data"))?;
    let (_, ds) = run_tool_in(Some(dir.path()), decompress, &[])?;
    if std::fs::read(dir.path().join(unpacked))? != data {
        bail!("{}: round trip differs", compress[0]);
    }
    Ok(Some((size, cs, ds)))
}

/// PPMd through 7-Zip (`7zz` or `7z`), which cannot stream a .7z archive: files in a temp dir.
/// Returns the archive size (including ~100 bytes of 7z headers) and both times.
fn ppmd(data: &[u8]) -> Result<Option<(u64, f64, f64)>> {
    let Some(exe) = ["7zz", "7z"].into_iter().find(|e| Command::new(e).arg("i").stdout(Stdio::null()).status().is_ok_and(|s| s.success()))
    else {
        return Ok(None);
    };
    let dir = tempfile::tempdir()?;
    let (src, arc) = (dir.path().join("data"), dir.path().join("data.7z"));
    std::fs::write(&src, data)?;
    let path = |p: &Path| p.to_str().map(str::to_owned).context("temporary path is not UTF-8");
    let (src, arc_s) = (path(&src)?, path(&arc)?);
    let (_, cs) = run_tool(&[exe, "a", "-m0=PPMd:o=32:mem=1g", "-bd", &arc_s, &src], &[])?;
    let (unpacked, ds) = run_tool(&[exe, "e", "-so", &arc_s], &[])?;
    if unpacked != data {
        bail!("PPMd round trip differs");
    }
    Ok(Some((std::fs::metadata(&arc)?.len(), cs, ds)))
}

/// One s2s2s configuration to measure.
pub struct Setup<'a> {
    /// The row's label.
    pub name: String,
    /// (`None` for context mixing alone, which uses no model)
    pub model: Option<&'a PreparedModel>,
    pub opts: Options,
}

/// Measures each s2s2s setup and every available classical tool on `file`; round trips are
/// checked.
pub fn bench_file(file: &Path, setups: &[Setup]) -> Result<Vec<Row>> {
    let data = std::fs::read(file)?;
    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut rows = Vec::new();
    for s in setups {
        let t = Instant::now();
        let mut packed = Vec::new();
        let stats = pipeline::compress(s.model, &mut &data[..], &mut packed, &s.opts, &|_| {})?;
        let compress_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut unpacked = Vec::new();
        // (context mixing's frames name no model; the built-in registry loads none until asked)
        let builtin = ModelRegistry::default();
        let models: &dyn ModelResolver = match s.model {
            Some(m) => m,
            None => &builtin,
        };
        pipeline::decompress(models, &mut &packed[..], Some(&mut unpacked as &mut dyn Write), s.opts.threads, &|_| {})?;
        let decompress_s = t.elapsed().as_secs_f64();
        if unpacked != data {
            bail!("benchmark round trip differs");
        }
        rows.push(Row {
            file: name.clone(),
            tool: s.name.clone(),
            original: data.len() as u64,
            compressed: packed.len() as u64,
            compress_s,
            decompress_s,
            stats: Some(stats),
        });
    }
    for (tool, c, d) in TOOLS {
        let Ok((packed, cs)) = run_tool(c, &data) else { continue };
        let (unpacked, ds) = run_tool(d, &packed)?;
        if unpacked != data {
            bail!("{tool}: round trip differs");
        }
        rows.push(Row {
            file: name.clone(),
            tool: (*tool).to_string(),
            original: data.len() as u64,
            compressed: packed.len() as u64,
            compress_s: cs,
            decompress_s: ds,
            stats: None,
        });
    }
    for (tool, c, d, unpacked) in FILE_TOOLS {
        if let Some((compressed, compress_s, decompress_s)) = file_tool(&data, c, d, unpacked)? {
            let tool = (*tool).to_owned();
            rows.push(Row { file: name.clone(), tool, original: data.len() as u64, compressed, compress_s, decompress_s, stats: None });
        }
    }
    if let Some((compressed, compress_s, decompress_s)) = ppmd(&data)? {
        rows.push(Row {
            file: name,
            tool: "7z PPMd o32".into(),
            original: data.len() as u64,
            compressed,
            compress_s,
            decompress_s,
            stats: None,
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

/// Formats the latent usage of s2s2s rows: share of segments that carry a latent, mean latent
/// length where one is carried, share of segments greedy decoding reproduces exactly.
pub fn latent_table(rows: &[Row]) -> String {
    let mut s = String::from("| file | compressor | bits/byte | segments | with latent | mean latent tokens | exact by greedy decoding |\n|---|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let Some(st) = &r.stats else { continue };
        let share = |n: u64| 100.0 * n as f64 / st.segments.max(1) as f64;
        s += &format!(
            "| {} | {} | {:.3} | {} | {:.1}% | {:.2} | {:.1}% |\n",
            r.file,
            r.tool,
            r.bpb(),
            st.segments,
            share(st.latent_segments),
            st.latent_tokens as f64 / st.latent_segments.max(1) as f64,
            share(st.exact_segments)
        );
    }
    s
}

/// Formats rows as one line per compressor: bits/byte on each file, then compress and decompress
/// KB/s over all files together (total bytes / total seconds).
pub fn summary(rows: &[Row]) -> String {
    let mut files: Vec<&str> = Vec::new();
    let mut tools: Vec<&str> = Vec::new();
    for r in rows {
        if !files.contains(&r.file.as_str()) {
            files.push(&r.file);
        }
        if !tools.contains(&r.tool.as_str()) {
            tools.push(&r.tool);
        }
    }
    let mut s = format!("| compressor | {} | KB/s compress / decompress |\n|---|", files.join(" | "));
    s += &"---:|".repeat(files.len() + 1);
    s += "\n";
    for tool in tools {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.tool == tool).collect();
        let cell = |f: &&str| mine.iter().find(|r| r.file == *f).map_or("-".to_owned(), |r| format!("{:.3}", r.bpb()));
        let cells: Vec<String> = files.iter().map(cell).collect();
        let total = Row {
            file: String::new(),
            tool: String::new(),
            original: mine.iter().map(|r| r.original).sum(),
            compressed: 0,
            compress_s: mine.iter().map(|r| r.compress_s).sum(),
            decompress_s: mine.iter().map(|r| r.decompress_s).sum(),
            stats: None,
        };
        s += &format!("| {tool} | {} | {:.1} / {:.1} |\n", cells.join(" | "), total.kbps(total.compress_s), total.kbps(total.decompress_s));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(file: &str, tool: &str, original: u64, compressed: u64, secs: f64) -> Row {
        Row { file: file.into(), tool: tool.into(), original, compressed, compress_s: secs, decompress_s: secs / 2.0, stats: None }
    }

    #[test]
    fn summary_has_a_line_per_tool_and_pooled_speeds() {
        let rows = [row("a", "x", 1000, 250, 1.0), row("b", "x", 3000, 300, 1.0), row("a", "y", 1000, 500, 0.5)];
        let s = summary(&rows);
        assert!(s.contains("| x | 2.000 | 0.800 | 2.0 / 4.0 |"), "{s}");
        assert!(s.contains("| y | 4.000 | - | 2.0 / 4.0 |"), "{s}");
    }
}
