//! The binary never loses data: interrupted, failing or concurrent runs leave sources intact and
//! no partial outputs; outputs keep the source's permissions and time; bounded memory.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use crate::common::{files_in, s2s};
use predicates::prelude::*;
use tempfile::TempDir;

const TINY: &str = "tests/data/tiny";

fn prose(n: usize) -> Vec<u8> {
    let words = ["the", "river", "of", "a", "quiet", "town", "was", "running", "under", "old", "bridges", "and"];
    let mut x = 12345u32;
    let mut out = Vec::new();
    while out.len() < n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
        out.push(if x.is_multiple_of(13) { b'\n' } else { b' ' });
    }
    out.truncate(n);
    out
}

/// A fresh directory holding one source file.
fn source(name: &str, data: &[u8]) -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let src = dir.path().join(name);
    std::fs::write(&src, data).unwrap();
    (dir, src)
}

#[test]
fn ctrl_c_leaves_no_partial_output_and_the_source_intact() {
    let data = prose(400_000);
    let (dir, src) = source("big.txt", &data);
    for signal in ["-INT", "-TERM"] {
        // the built-in model takes tens of seconds on this input: plenty of time to interrupt
        let mut child =
            Process::new(env!("CARGO_BIN_EXE_s2s2s")).args(["compress", "-T1"]).arg(&src).stderr(Stdio::piped()).spawn().unwrap();
        let t = Instant::now();
        while !files_in(dir.path()).iter().any(|f| f.ends_with(".tmp")) && t.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        Process::new("kill").arg(signal).arg(child.id().to_string()).status().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal}");
        assert_eq!(files_in(dir.path()), vec!["big.txt"], "{signal}");
        assert_eq!(std::fs::read(&src).unwrap(), data);
    }
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let data = prose(5000);
    let (dir, src) = source("a.txt", &data);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Process::new(env!("CARGO_BIN_EXE_s2s2s")).args(["--model", TINY, "compress", "-c"]).arg(&src).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left on device"));
    s2s()
        .args(["--model", TINY, "compress", "-o", "/dev/full"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("No space left on device"));
    assert_eq!(files_in(dir.path()), vec!["a.txt"]);
}

#[test]
fn an_unwritable_destination_is_a_clear_error_and_rm_keeps_the_source() {
    let (dir, src) = source("a.txt", &prose(3000));
    s2s()
        .args(["--model", TINY, "compress", "--rm", "-o", "/nonexistent-dir/a.s2s"])
        .arg(&src)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot create a file"));
    assert_eq!(files_in(dir.path()), vec!["a.txt"]);
    // a corrupt container with --rm: no output, the container stays
    let bad = dir.path().join("b.s2s");
    std::fs::write(&bad, b"S2S2 this is not a container").unwrap();
    s2s().args(["--model", TINY, "decompress", "--rm"]).arg(&bad).assert().code(1);
    assert_eq!(files_in(dir.path()), vec!["a.txt", "b.s2s"]);
    // compressing a file onto itself is refused, even with -f --rm
    s2s()
        .args(["--model", TINY, "compress", "-f", "--rm", "-o"])
        .arg(&src)
        .arg(&src)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("same file"));
    assert_eq!(std::fs::read(&src).unwrap(), prose(3000));
}

#[test]
fn outputs_keep_the_source_permissions_and_time_and_rm_removes_only_after_success() {
    let data = prose(3000);
    let (dir, src) = source("a.txt", &data);
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mtime = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    std::fs::File::options().write(true).open(&src).unwrap().set_modified(mtime).unwrap();
    s2s().args(["--model", TINY, "compress", "--rm"]).arg(&src).assert().success();
    assert_eq!(files_in(dir.path()), vec!["a.txt.s2s"]);
    let packed = dir.path().join("a.txt.s2s");
    let meta = std::fs::metadata(&packed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.modified().unwrap(), mtime);
    s2s().args(["--model", TINY, "decompress"]).arg(&packed).assert().success();
    let meta = std::fs::metadata(&src).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.modified().unwrap(), mtime);
    assert_eq!(std::fs::read(&src).unwrap(), data);
    // writing to a device goes straight to it, and --rm then keeps the source
    s2s().args(["--model", TINY, "decompress", "--rm", "-o", "/dev/null"]).arg(&packed).assert().success();
    assert!(packed.exists());
}

#[test]
fn concurrent_processes_give_identical_outputs() {
    let (dir, src) = source("a.txt", &std::fs::read("tests/golden/text.txt").unwrap());
    let outs: Vec<PathBuf> = (0..4).map(|i| dir.path().join(format!("{i}.s2s"))).collect();
    let children: Vec<_> = outs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            Process::new(env!("CARGO_BIN_EXE_s2s2s"))
                .args(["compress", "-q", "-T", &(1 + i % 2).to_string(), "-o"])
                .arg(o)
                .arg(&src)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let first = std::fs::read(&outs[0]).unwrap();
    for o in &outs[1..] {
        assert!(std::fs::read(o).unwrap() == first, "{}", o.display());
    }
    let info = s2s().args(["info", "-v"]).arg(&outs[0]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&info).contains("1 neural"), "the built-in model must code this text");
}

#[test]
fn test_command_rejects_every_flipped_byte_position_sampled() {
    let packed = s2s().args(["--model", TINY, "compress"]).write_stdin(prose(4000)).assert().success().get_output().stdout.clone();
    let dir = TempDir::new().unwrap();
    for at in (0..packed.len()).step_by(packed.len() / 16 + 1).chain([packed.len() - 1]) {
        let mut v = packed.clone();
        v[at] ^= 0x01;
        let f = dir.path().join("x.s2s");
        std::fs::write(&f, &v).unwrap();
        s2s().args(["--model", TINY, "test"]).arg(&f).assert().code(1);
    }
}
