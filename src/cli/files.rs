//! Where each input goes and how it gets there safely: output names, refusals, a temporary file
//! renamed into place only when complete (with the source's mode and time), signal cleanup.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use s2s2s::Stats;

/// The suffix of compressed files.
pub const SUFFIX: &str = ".s2s";

/// Which way a file goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Compress,
    Decompress,
}

/// Where one input goes.
pub enum Sink {
    Stdout,
    File(PathBuf),
}

/// How outputs are named and written (from `-o`, `-c`, `-f`).
pub struct OutputRules<'a> {
    pub output: Option<&'a Path>,
    pub stdout: bool,
    pub force: bool,
}

pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// The inputs named, or standard input when none.
pub fn inputs_or_stdin(files: &[PathBuf]) -> Vec<PathBuf> {
    if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    }
}

/// The output of `input`: standard output, `-o`, or the name with the suffix added or removed.
pub fn output_for(input: &Path, rules: &OutputRules, dir: Direction) -> Result<Sink> {
    if rules.stdout || is_stdin(input) && rules.output.is_none() {
        return Ok(Sink::Stdout);
    }
    if let Some(o) = rules.output {
        return Ok(if is_stdin(o) { Sink::Stdout } else { Sink::File(o.to_path_buf()) });
    }
    let name = input.as_os_str().to_string_lossy();
    match dir {
        Direction::Compress if name.ends_with(SUFFIX) => bail!("{}: already has the {SUFFIX} suffix", input.display()),
        Direction::Compress => {
            let mut s = input.as_os_str().to_owned();
            s.push(SUFFIX);
            Ok(Sink::File(s.into()))
        }
        Direction::Decompress => match name.strip_suffix(SUFFIX) {
            Some(stem) if !stem.is_empty() && !stem.ends_with('/') => Ok(Sink::File(PathBuf::from(stem))),
            _ => bail!("{}: unknown suffix (expected {SUFFIX}); use -o or -c", input.display()),
        },
    }
}

/// Refuses what gzip refuses: writing over the input, compressed data to a terminal.
pub fn check_sink(input: &Path, sink: &Sink, dir: Direction, force: bool) -> Result<()> {
    if let Sink::File(o) = sink {
        if same_file(input, o) {
            bail!("{}: input and output are the same file", input.display());
        }
    }
    if dir == Direction::Compress && matches!(sink, Sink::Stdout) && std::io::stdout().is_terminal() && !force {
        bail!("refusing to write compressed data to a terminal; use -o, redirect, or -f");
    }
    Ok(())
}

/// The temporary output being written, removed by the signal handler on Ctrl-C or SIGTERM.
static PARTIAL_OUTPUT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// On SIGINT, SIGTERM or SIGHUP: remove the partial output and exit like an interrupted tool.
pub fn install_signal_handler() {
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

/// An opened input: its reader and, for a file, its metadata.
pub struct Source {
    pub reader: Box<dyn Read>,
    pub meta: Option<std::fs::Metadata>,
}

impl Source {
    pub fn open(input: &Path) -> Result<Self> {
        if is_stdin(input) {
            return Ok(Self { reader: Box::new(std::io::stdin().lock()), meta: None });
        }
        let f = File::open(input).with_context(|| format!("{}: cannot open", input.display()))?;
        let meta = f.metadata()?;
        if meta.is_dir() {
            bail!("{}: is a directory", input.display());
        }
        Ok(Self { reader: Box::new(BufReader::with_capacity(1 << 20, f)), meta: Some(meta) })
    }

    /// The input's length, when it is a regular file.
    pub fn len(&self) -> Option<u64> {
        self.meta.as_ref().filter(|m| m.is_file()).map(|m| m.len())
    }
}

/// The coding work for one input: reader, writer, input length if known.
pub type Work<'a> = dyn Fn(&mut dyn Read, &mut dyn Write, Option<u64>) -> Result<Stats> + 'a;

/// Runs `work` from `input` to `sink`, writing files through a temporary file renamed at the end.
pub fn process(input: &Path, sink: &Sink, force: bool, work: &Work<'_>) -> Result<Stats> {
    let mut src = Source::open(input)?;
    let len = src.len();
    let out = match sink {
        Sink::Stdout => return write_direct(BufWriter::with_capacity(1 << 20, std::io::stdout().lock()), &mut src, len, work),
        Sink::File(out) => out,
    };
    if let Some(f) = special_output(out) {
        let f = f.with_context(|| format!("{}: cannot open", out.display()))?;
        return write_direct(BufWriter::with_capacity(1 << 20, f), &mut src, len, work);
    }
    if out.exists() && !force {
        bail!("{}: already exists; use -f to overwrite", out.display());
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".s2s2s-")
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot create a file in this directory", dir.display()))?;
    *PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) = Some(tmp.path().to_path_buf());
    let written = write_temporary(tmp, out, &mut src, len, work);
    *PARTIAL_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let (stats, tmp) = written?;
    if force { tmp.persist(out) } else { tmp.persist_noclobber(out) }
        .map_err(|e| e.error)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(stats)
}

fn write_direct(mut w: impl Write, src: &mut Source, len: Option<u64>, work: &Work<'_>) -> Result<Stats> {
    let stats = work(&mut src.reader, &mut w, len)?;
    w.flush().context("cannot write the output")?;
    Ok(stats)
}

/// Writes the output into `tmp`; like gzip and xz, it gets the source's permissions and
/// modification time, and reaches the disk before it is renamed into place.
fn write_temporary(
    tmp: tempfile::NamedTempFile,
    out: &Path,
    src: &mut Source,
    len: Option<u64>,
    work: &Work<'_>,
) -> Result<(Stats, tempfile::NamedTempFile)> {
    let mut w = BufWriter::with_capacity(1 << 20, tmp);
    let stats = work(&mut src.reader, &mut w, len)?;
    let finish = || -> std::io::Result<tempfile::NamedTempFile> {
        let tmp = w.into_inner().map_err(|e| e.into_error())?;
        if let Some(meta) = src.meta.as_ref().filter(|m| m.is_file()) {
            tmp.as_file().set_permissions(meta.permissions())?;
            if let Ok(mtime) = meta.modified() {
                tmp.as_file().set_modified(mtime)?;
            }
        }
        tmp.as_file().sync_all()?;
        Ok(tmp)
    };
    Ok((stats, finish().with_context(|| format!("{}: cannot write", out.display()))?))
}
