//! What the command line prints, pinned: `--version`, the listing and its JSON, summary lines
//! and totals, `test` going on past a bad file, one path per error, the man page's sections,
//! the settings from the environment, and progress on a terminal.

use std::path::Path;
use std::process::Command as Process;

use tempfile::TempDir;

use crate::common::{self, s2s};

/// What a run shows ([`common::seen`]), with the figures that vary from run to run (seconds,
/// speeds, memory) masked.
fn seen(cmd: &mut assert_cmd::Command, dir: &TempDir) -> String {
    mask(&common::seen(cmd, Some(dir)))
}

/// Replaces the number after each of "in ", ", " (before " KB/s") and "peak memory " with `#`.
fn mask(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once(") in ") {
            Some((head, tail)) => {
                let rest: Vec<String> = tail
                    .split(", ")
                    .map(|part| match part.split_once(' ') {
                        Some((n, unit)) if n.parse::<f64>().is_ok() => format!("# {unit}"),
                        _ if part.starts_with("peak memory ") => "peak memory # MiB".into(),
                        _ => part.to_owned(),
                    })
                    .collect();
                format!("{head}) in {}", rest.join(", "))
            }
            None => l.to_owned(),
        })
        .map(|l| l + "\n")
        .collect()
}

fn write(dir: &TempDir, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Two compressed files, a.txt.s2s and b.txt.s2s (level 1: no network, quick).
fn two_files(dir: &TempDir) {
    write(dir, "a.txt", "The quick brown fox jumps over the lazy dog.\n".repeat(40).as_bytes());
    write(dir, "b.txt", "Pack my box with five dozen liquor jugs.\n".repeat(80).as_bytes());
    s2s().current_dir(dir.path()).args(["-1", "-q", "a.txt", "b.txt"]).assert().success();
}

#[cfg(not(feature = "retired-networks"))]
#[test]
fn version_names_the_formats_networks_and_kernel() {
    let out = s2s().env("S2S2S_KERNEL", "portable").arg("--version").output().unwrap();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
    let short = s2s().arg("-V").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&short.stdout), format!("s2s2s {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn list_is_a_line_a_file_with_totals_and_json() {
    let dir = TempDir::new().unwrap();
    two_files(&dir);
    insta::assert_snapshot!(seen(s2s().current_dir(dir.path()).args(["-l", "a.txt.s2s", "b.txt.s2s"]), &dir));
    let json = s2s().current_dir(dir.path()).args(["info", "--json", "a.txt.s2s", "b.txt.s2s"]).output().unwrap();
    assert!(json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert_eq!(v["files"][0]["file"], "a.txt.s2s");
    assert_eq!(v["files"][0]["original"], 1800);
    assert_eq!(v["files"][0]["profiles"][0], "cm");
    let packed = v["files"][0]["compressed"].as_u64().unwrap() + v["files"][1]["compressed"].as_u64().unwrap();
    assert_eq!(v["total"]["compressed"].as_u64(), Some(packed));
    assert_eq!(v["total"]["original"], 1800 + 3280);
    // -v gives every detail
    let detail = s2s().current_dir(dir.path()).args(["info", "-v", "a.txt.s2s"]).output().unwrap();
    assert!(String::from_utf8_lossy(&detail.stdout).contains("bits/byte)\n"));
}

#[test]
fn verbose_prints_a_summary_a_file_and_totals() {
    let dir = TempDir::new().unwrap();
    write(&dir, "a.txt", "The quick brown fox jumps over the lazy dog.\n".repeat(40).as_bytes());
    write(&dir, "b.txt", "Pack my box with five dozen liquor jugs.\n".repeat(80).as_bytes());
    insta::assert_snapshot!(seen(s2s().current_dir(dir.path()).args(["-2", "-v", "a.txt", "b.txt"]), &dir));
    insta::assert_snapshot!(seen(s2s().current_dir(dir.path()).args(["-d", "-v", "-f", "a.txt.s2s"]), &dir));
    // without -v and without a terminal: nothing
    let quiet = s2s().current_dir(dir.path()).args(["-2", "-f", "a.txt"]).output().unwrap();
    assert!(quiet.status.success() && quiet.stderr.is_empty());
}

#[test]
fn test_goes_on_past_a_bad_file_and_fails() {
    let dir = TempDir::new().unwrap();
    two_files(&dir);
    write(&dir, "bad.s2s", b"not a container");
    insta::assert_snapshot!(seen(s2s().current_dir(dir.path()).args(["-t", "a.txt.s2s", "bad.s2s", "missing.s2s", "b.txt.s2s"]), &dir));
    insta::assert_snapshot!(seen(s2s().current_dir(dir.path()).args(["-l", "a.txt.s2s", "bad.s2s", "b.txt.s2s"]), &dir));
}

#[test]
fn each_error_names_one_path() {
    let dir = TempDir::new().unwrap();
    two_files(&dir);
    write(&dir, "truncated.s2s", &std::fs::read(dir.path().join("a.txt.s2s")).unwrap()[..30]);
    let runs: [&[&str]; 4] = [&["-d", "missing.s2s"], &["-d", "truncated.s2s"], &["-d", "a.txt.s2s"], &["-1", "a.txt"]];
    for args in runs {
        let out = s2s().current_dir(dir.path()).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        let paths = err.matches(".s2s").count() + err.matches("a.txt").count() - err.matches("a.txt.s2s").count();
        assert_eq!(paths, 1, "{args:?}: one path: {err}");
    }
}

#[test]
fn the_man_page_has_exit_status_environment_and_examples() {
    let out = s2s().args(["--generate", "man"]).output().unwrap();
    let man = String::from_utf8_lossy(&out.stdout);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH EXAMPLES", ".SH VERSION"] {
        assert!(man.contains(section), "{section}");
    }
    for var in ["S2S2S_LEVEL", "S2S2S_THREADS", "S2S2S_KERNEL"] {
        assert!(man.contains(&format!(".B {var}")), "{var}");
    }
}

#[test]
fn level_and_threads_come_from_the_environment_and_a_flag_wins() {
    let dir = TempDir::new().unwrap();
    let src = write(&dir, "a.txt", "Anarchism is a political philosophy that advocates self-governed societies.\n".repeat(30).as_bytes());
    let code = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = s2s();
        env.iter().for_each(|(k, v)| {
            c.env(k, v);
        });
        c.args(args).arg("-c").arg(&src).assert().success().get_output().stdout.clone()
    };
    // (levels 1 and 2 write the same bytes on small inputs; 3 runs the small network)
    let (three, two) = (code(&[], &["-3"]), code(&[], &["-2"]));
    assert_ne!(three, two, "the levels differ on this input");
    assert_eq!(code(&[("S2S2S_LEVEL", "3")], &[]), three);
    assert_eq!(code(&[("S2S2S_LEVEL", "3")], &["compress"]), three, "with a subcommand too");
    assert_eq!(code(&[("S2S2S_LEVEL", "3")], &["-2"]), two, "a flag wins");
    assert_eq!(code(&[("S2S2S_LEVEL", "3"), ("S2S2S_THREADS", "1")], &[]), three);
    for (var, value) in [("S2S2S_LEVEL", "0"), ("S2S2S_LEVEL", "fast"), ("S2S2S_THREADS", "-1")] {
        let out = s2s().env(var, value).arg("-c").arg(&src).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        assert!(err.starts_with(&format!("s2s2s: {var}={value}: expected")) && err.lines().count() == 1, "{err}");
    }
}

/// Runs `s2s2s ARGS` under a pseudo-terminal (util-linux `script`): what a user sees.
fn on_terminal(dir: &Path, args: &str) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("s2s2s");
    let out = Process::new("script").current_dir(dir).args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_shows_progress_with_percentage_and_eta_then_a_summary() {
    let dir = TempDir::new().unwrap();
    // (level 2 on 3 MB: a few seconds, several batches)
    let text: String = (0..60_000).map(|i| format!("line {i} of a file to watch: {}\n", i * 7919 % 10007)).collect();
    write(&dir, "big.txt", text.as_bytes());
    let Some(seen) = on_terminal(dir.path(), "-2 big.txt") else {
        eprintln!("`script` (util-linux) is not available: no pseudo-terminal; skipped");
        return;
    };
    assert!(seen.contains('%') && seen.contains("ETA") && seen.contains("elapsed"), "{seen}");
    assert!(seen.contains("big.txt: compressed 2"), "a summary line on a terminal: {seen}");
    let seen = on_terminal(dir.path(), "-t big.txt.s2s").unwrap();
    assert!(seen.contains('%') && seen.contains("ETA") && seen.contains("big.txt.s2s: OK"), "{seen}");
    let seen = on_terminal(dir.path(), "-q -d -f big.txt.s2s").unwrap();
    assert!(!seen.contains('%'), "-q: nothing: {seen}");
}
