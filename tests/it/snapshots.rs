//! What users see, pinned as snapshots (`cargo insta review` after an intended change): the
//! help, an `info` report, and one-line errors. And the conventions every Unix compressor
//! shares: no subcommand compresses a filter, `-d`, `-t`, `-l`, combined flags, `tar -I`.

use std::process::Command as Process;

use tempfile::TempDir;

use crate::common::{s2s, seen};

#[test]
fn help() {
    insta::assert_snapshot!(seen(s2s().arg("--help"), None));
    insta::assert_snapshot!(seen(s2s().args(["compress", "--help"]), None));
}

#[test]
fn info_of_a_file() {
    let dir = TempDir::new().unwrap();
    let text = "The quick brown fox jumps over the lazy dog.\n".repeat(40);
    let packed = s2s().args(["--model", "tests/data/tiny", "-c"]).write_stdin(text).output().unwrap().stdout;
    std::fs::write(dir.path().join("fox.s2s"), packed).unwrap();
    insta::assert_snapshot!(seen(s2s().args(["info", "-v"]).arg(dir.path().join("fox.s2s")), Some(&dir)));
    insta::assert_snapshot!(seen(s2s().arg("-l").arg(dir.path().join("fox.s2s")), Some(&dir)));
}

#[test]
fn one_line_errors() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.s2s");
    std::fs::write(&bad, b"not a container").unwrap();
    insta::assert_snapshot!(seen(s2s().arg("-d").arg(&bad), Some(&dir)));
    insta::assert_snapshot!(seen(s2s().arg("-t").arg(dir.path().join("missing.s2s")), Some(&dir)));
    insta::assert_snapshot!(seen(s2s().args(["-d", "nosuffix"]), None));
    insta::assert_snapshot!(seen(s2s().args(["compress", "--level", "0"]), None));
    // a file made with another model names both and says what to do
    let text = "some text for the tiny model\n".repeat(30);
    let packed = s2s().args(["--model", "tests/data/tiny", "-c"]).write_stdin(text).output().unwrap().stdout;
    insta::assert_snapshot!(seen(s2s().args(["-dc"]).write_stdin(packed), None));
}

#[test]
fn unix_conventions_round_trip() {
    let dir = TempDir::new().unwrap();
    let text = "line of text to keep\n".repeat(50);
    let tiny = ["--model", "tests/data/tiny", "-T2"];
    // no subcommand and no file: a filter; -d reverses it; -dc and -9c combine
    let packed = s2s().args(tiny).write_stdin(text.clone()).assert().success().get_output().stdout.clone();
    let back = s2s().args(tiny).arg("-d").write_stdin(packed.clone()).assert().success().get_output().stdout.clone();
    assert_eq!(back, text.as_bytes());
    let f = dir.path().join("a.txt");
    std::fs::write(&f, &text).unwrap();
    s2s().args(tiny).arg("-9").arg(&f).assert().success();
    let out = s2s().args(tiny).arg("-dc").arg(dir.path().join("a.txt.s2s")).assert().success().get_output().stdout.clone();
    assert_eq!(out, text.as_bytes());
    s2s().args(tiny).arg("-t").arg(dir.path().join("a.txt.s2s")).assert().success();
    s2s().args(tiny).arg("-z").arg("-f").arg(&f).assert().success();
}

#[test]
fn tar_uses_it_as_a_compression_program_both_ways() {
    if Process::new("tar").arg("--version").output().is_err() {
        eprintln!("tar is not installed; skipped");
        return;
    }
    let dir = TempDir::new().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("one.txt"), "first file\n".repeat(30)).unwrap();
    std::fs::write(src.join("two.bin"), (0..=255u8).collect::<Vec<_>>()).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("s2s2s");
    // tar runs the program with no arguments to compress and with -d to decompress
    let program = format!("{} --model {}/tests/data/tiny", bin.display(), env!("CARGO_MANIFEST_DIR"));
    let archive = dir.path().join("x.tar.s2s");
    let ok = Process::new("tar").arg("-I").arg(&program).arg("-cf").arg(&archive).arg("-C").arg(&src).arg(".").status().unwrap();
    assert!(ok.success());
    let head = std::fs::read(&archive).unwrap();
    assert_eq!(&head[..4], b"S2S2", "the archive is an s2s2s container");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let ok = Process::new("tar").arg("-I").arg(&program).arg("-xf").arg(&archive).arg("-C").arg(&out).status().unwrap();
    assert!(ok.success());
    assert_eq!(std::fs::read(out.join("one.txt")).unwrap(), std::fs::read(src.join("one.txt")).unwrap());
    assert_eq!(std::fs::read(out.join("two.bin")).unwrap(), std::fs::read(src.join("two.bin")).unwrap());
}
