//! The real binary end to end: files, pipes, refusals and hostile input.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use s2s2s::Profile;
use tempfile::TempDir;

const TINY: &str = "tests/data/tiny";

fn tiny() -> Command {
    let mut c = s2s();
    c.args(["--model", TINY, "-T2"]);
    c
}

fn sample() -> Vec<u8> {
    let mut v = b"The quick brown fox jumps over the lazy dog.\n".repeat(200);
    v.extend((0..=255u8).cycle().take(3000));
    v
}

fn write(dir: &TempDir, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn file_round_trip_keeps_the_source_and_refuses_to_overwrite() {
    let dir = TempDir::new().unwrap();
    let src = write(&dir, "a.txt", &sample());
    tiny().arg("compress").arg(&src).assert().success();
    let packed = dir.path().join("a.txt.s2s");
    assert!(packed.exists() && src.exists());
    tiny().arg("compress").arg(&src).assert().failure().stderr(predicates::str::contains("already exists"));
    std::fs::remove_file(&src).unwrap();
    tiny().arg("decompress").arg(&packed).assert().success();
    assert_eq!(std::fs::read(&src).unwrap(), sample());
    tiny().arg("test").arg(&packed).assert().success();
    tiny().args(["decompress", "-f", "--rm"]).arg(&packed).assert().success();
    assert!(!packed.exists());
    assert_eq!(std::fs::read(&src).unwrap(), sample());
    assert_eq!(files_in(dir.path()), vec!["a.txt"]);
}

#[test]
fn pipes_work_both_ways() {
    let packed = tiny().arg("compress").write_stdin(sample()).assert().success().get_output().stdout.clone();
    let out = tiny().args(["decompress", "-"]).write_stdin(packed).assert().success().get_output().stdout.clone();
    assert_eq!(out, sample());
    let packed = tiny().args(["compress", "-c"]).write_stdin(Vec::new()).assert().success().get_output().stdout.clone();
    let out = tiny().arg("decompress").write_stdin(packed).assert().success().get_output().stdout.clone();
    assert!(out.is_empty());
}

#[test]
fn thread_counts_give_identical_files() {
    let a = s2s().args(["--model", TINY, "-T1", "compress"]).write_stdin(sample()).assert().success().get_output().stdout.clone();
    let b = s2s().args(["--model", TINY, "-T2", "compress"]).write_stdin(sample()).assert().success().get_output().stdout.clone();
    assert_eq!(a, b);
}

#[test]
fn info_reports_blocks_and_model() {
    let dir = TempDir::new().unwrap();
    let src = write(&dir, "b.txt", &sample());
    tiny().arg("compress").arg(&src).assert().success();
    tiny()
        .args(["info", "-v"])
        .arg(dir.path().join("b.txt.s2s"))
        .assert()
        .success()
        .stdout(predicates::str::contains("mismatches").and(predicates::str::contains("bits/byte")));
}

#[test]
fn profiles_are_recorded_and_components_reported() {
    let dir = TempDir::new().unwrap();
    let text = b"fn main() { println!(\"hello\"); }\n".repeat(60);
    for (profile, cli) in [(Profile::Mixed, "mixed"), (Profile::Adaptive, "adaptive"), (Profile::Neural, "neural")] {
        // the CLI records the profile
        let src = write(&dir, &format!("{cli}.rs"), &text);
        tiny().args(["compress", "--profile", cli]).arg(&src).assert().success();
        let out = tiny().args(["info", "-v"]).arg(dir.path().join(format!("{cli}.rs.s2s"))).assert().success().get_output().stdout.clone();
        assert!(String::from_utf8(out).unwrap().contains(&format!("profile        {cli}")));
        // component savings need model-coded blocks: force them through the library
        let codec = s2s2s::PreparedModel::new(s2s2s::Model::load(Path::new(TINY)).unwrap()).unwrap();
        let opts = s2s2s::Options { neural: s2s2s::NeuralUse::Always, profile, ..s2s2s::Options::default() };
        let mut packed = Vec::new();
        s2s2s::compress(Some(&codec), &mut &text[..], &mut packed, &opts, &|_| {}).unwrap();
        let path = write(&dir, &format!("{cli}.s2s"), &packed);
        let out = tiny().args(["info", "--components"]).arg(&path).assert().success().get_output().stdout.clone();
        let out = String::from_utf8(out).unwrap();
        // leaving a component out can only be measured where there is a mixture
        assert_eq!(out.contains("order-0"), profile != Profile::Neural, "{out}");
        assert_eq!(out.contains("network"), profile == Profile::Mixed, "{out}");
        tiny().args(["decompress", "-c"]).arg(&path).assert().success().stdout(text.clone());
    }
    tiny().args(["compress", "--profile", "fastest"]).write_stdin("x").assert().code(2);
    // context mixing (levels 1-2) and the network within it (levels 4-9): each model's savings
    for (level, network) in [("-2", false), ("-4", true)] {
        let src = write(&dir, &format!("cm{level}.rs"), &text);
        tiny().args(["compress", level]).arg(&src).assert().success();
        let out = tiny().args(["info", "--components"]).arg(dir.path().join(format!("cm{level}.rs.s2s"))).assert().success();
        let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        for name in ["orders 1-2", "words", "column", "match", "APMs"] {
            assert!(out.contains(name), "{level}: {out}");
        }
        assert_eq!(out.contains("network"), network, "{level}: {out}");
    }
}

use crate::common::{files_in, s2s};
use predicates::prelude::*;

/// Every bad container: one line on stderr, exit code 1, no output file left.
fn assert_rejected(data: &[u8], needle: &str) {
    let dir = TempDir::new().unwrap();
    let bad = write(&dir, "bad.s2s", data);
    let out = tiny().arg("decompress").arg(&bad).assert().code(1).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
    assert_eq!(files_in(dir.path()), vec!["bad.s2s"]);
}

#[test]
fn corrupt_truncated_and_foreign_inputs_are_clean_errors() {
    let packed = tiny().arg("compress").write_stdin(sample()).assert().success().get_output().stdout.clone();
    assert_rejected(b"hello, not a container", "bad magic");
    assert_rejected(b"", "truncated");
    assert_rejected(&packed[..packed.len() / 2], "truncated");
    assert_rejected(&packed[..packed.len() - 3], "truncated");
    let mut v = packed.clone();
    v[4] = 99;
    assert_rejected(&v, "unsupported format version");
    for at in [10, 40, packed.len() / 2, packed.len() - 10] {
        let mut v = packed.clone();
        v[at] ^= 0x10;
        let dir = TempDir::new().unwrap();
        let bad = write(&dir, "bad.s2s", &v);
        tiny().arg("decompress").arg(&bad).assert().code(1);
        assert_eq!(files_in(dir.path()), vec!["bad.s2s"], "flip at {at}");
    }
    // made by the tiny model, read with the built-in one
    let dir = TempDir::new().unwrap();
    let f = write(&dir, "x.s2s", &packed);
    let out = s2s().arg("decompress").arg(&f).assert().code(1).get_output().clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("made with model"));
    assert_eq!(files_in(dir.path()), vec!["x.s2s"]);
}

#[test]
fn hostile_header_fails_fast() {
    // a valid frame header followed by a block claiming a huge payload
    let packed = tiny().arg("compress").write_stdin(b"x".to_vec()).assert().success().get_output().stdout.clone();
    let mut v = packed[..30].to_vec();
    v.extend_from_slice(&[2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_rejected(&v, "corrupt");
}

#[test]
fn usage_errors() {
    s2s().args(["decompress", "nosuffix"]).assert().code(1).stderr(predicates::str::contains("unknown suffix"));
    s2s().args(["compress", "/nonexistent/file"]).assert().code(1).stderr(predicates::str::contains("cannot open"));
    s2s().arg("--no-such-flag").assert().code(2);
    // a level before the subcommand would be ignored: refused, and nothing is written
    let dir = TempDir::new().unwrap();
    let src = write(&dir, "a.txt", b"abc");
    s2s().args(["-2", "compress"]).arg(&src).assert().code(1).stderr(predicates::str::contains("after the subcommand"));
    assert!(!dir.path().join("a.txt.s2s").exists());
}

#[test]
fn bench_measures_the_level_asked_for_with_its_round_trip() {
    // level 2 is context mixing alone: its frames name no model (decoded through the built-in registry)
    let dir = TempDir::new().unwrap();
    let src = write(&dir, "a.txt", &sample());
    let out = s2s().args(["bench", "-2", "-T1"]).arg(&src).assert().success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(table.contains("| s2s2s -2 cm -T1 |"), "{table}");
}

#[test]
fn a_named_kernel_runs_and_codes_the_same_bits() {
    // S2S2S_KERNEL picks a slower variant (portable runs everywhere); an unknown name is ignored
    let dir = TempDir::new().unwrap();
    let src = write(&dir, "a.txt", &sample());
    let out = s2s().env("S2S2S_KERNEL", "portable").args(["bench", "-2", "-T1"]).arg(&src).assert().success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(table.lines().next().unwrap().contains("kernel portable"), "{table}");
    let code =
        |kernel: &str| s2s().env("S2S2S_KERNEL", kernel).args(["-2", "-T1", "-c"]).arg(&src).assert().success().get_output().stdout.clone();
    let best = code("none such");
    assert_eq!(code("portable"), best);
}

#[test]
fn builtin_model_round_trip() {
    let text = "Anarchism is a political philosophy that advocates self-governed societies.\n".repeat(3);
    let packed = s2s().args(["compress", "-T2"]).write_stdin(text.clone()).assert().success().get_output().stdout.clone();
    assert!(packed.len() < text.len());
    let out = s2s().arg("decompress").write_stdin(packed).assert().success().get_output().stdout.clone();
    assert_eq!(out, text.as_bytes());
}

#[test]
fn files_of_the_retired_default_networks_decompress_or_name_the_feature_that_does() {
    // `s2s2s compress -6` and `-6 --profile mixed` (the network in int8 within context mixing, and
    // in f32 mixed with the token models) of text.txt, made with each retired default network
    // while it was the default; a build without the feature `retired-networks` refuses them
    // with one line that names it
    let text = std::fs::read("tests/golden/text.txt").unwrap();
    for network in ["default-1", "default-2", "default-3", "default-4"] {
        for name in ["text.txt-6.s2s", "text.txt-6-mixed.s2s"] {
            let packed = format!("tests/golden/builtin-{network}/{name}");
            let info = s2s().args(["info", "-v"]).arg(&packed).assert().success().get_output().stdout.clone();
            assert!(String::from_utf8_lossy(&info).contains(&format!("(built-in {network})")), "{packed}");
            let run = s2s().args(["decompress", "-c", "-T2"]).arg(&packed).output().unwrap();
            if cfg!(feature = "retired-networks") {
                assert!(run.status.success(), "{packed}");
                assert_eq!(run.stdout, text, "{packed}");
            } else {
                let err = String::from_utf8_lossy(&run.stderr);
                assert_eq!(run.status.code(), Some(1), "{packed}");
                assert!(err.contains(network) && err.contains("--features retired-networks"), "{packed}: {err}");
                assert_eq!(err.lines().count(), 1, "{err}");
            }
        }
    }
}

#[test]
fn latent_searches_round_trip_and_a_missing_policy_or_latent_is_refused() {
    let text = "Qwertyuiop zxcvbnm, said Hjalmarsson to Oyelaran-Vukovic in Tbilisi. 1987-03-14\n".repeat(4);
    let packed = s2s()
        .args(["compress", "-3", "--profile", "mixed", "-T2", "--latent", "heuristic"])
        .write_stdin(text.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = s2s().arg("decompress").write_stdin(packed).assert().success().get_output().stdout.clone();
    assert_eq!(out, text.as_bytes());
    let err = s2s()
        .args(["compress", "-3", "--profile", "mixed", "--latent", "policy"])
        .write_stdin(text.clone())
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err).contains("no latent policy"));
    // the default level (context mixing with the network) codes no latent: the flag is refused,
    // not ignored
    let err = s2s().args(["compress", "--latent", "heuristic"]).write_stdin(text).assert().code(1).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&err).contains("the hybrid profile codes no latent"), "{}", String::from_utf8_lossy(&err));
}

#[test]
fn every_level_round_trips_with_its_built_in_model() {
    let dir = TempDir::new().unwrap();
    let text = "Anarchism is a political philosophy that advocates self-governed societies.\n".repeat(20);
    for n in 1..=9 {
        let flag = if n % 2 == 0 { format!("--level={n}") } else { format!("-{n}") };
        let src = write(&dir, &format!("l{n}.txt"), text.as_bytes());
        s2s().args(["compress", "-T2", &flag]).arg(&src).assert().success();
        let packed = dir.path().join(format!("l{n}.txt.s2s"));
        // context mixing (the predictor's fifth revision) is version 13 at every level
        let version = std::fs::read(&packed).unwrap()[4];
        assert_eq!(version, 13, "-{n}");
        let info = s2s().args(["info", "-v"]).arg(&packed).assert().success().get_output().stdout.clone();
        let info = String::from_utf8(info).unwrap();
        let (model, profile) = if n <= 2 {
            ("none", "cm")
        } else if n <= 5 {
            ("small", "hybrid")
        } else {
            ("default", "hybrid")
        };
        let model_line = if model == "none" { "model          none".to_owned() } else { format!("(built-in {model})") };
        assert!(info.contains(&model_line) && info.contains(&format!("profile        {profile}")), "-{n}: {info}");
        std::fs::remove_file(&src).unwrap();
        s2s().args(["decompress", "-T2"]).arg(&packed).assert().success();
        assert_eq!(std::fs::read(&src).unwrap(), text.as_bytes(), "-{n}");
    }
    // combined short flags and refusals
    s2s().args(["compress", "-1c"]).write_stdin(text.clone()).assert().success();
    s2s().args(["compress", "-c", "--level", "0"]).write_stdin("x").assert().code(2);
    s2s().args(["compress", "-c", "--block-size", "2M"]).write_stdin("x").assert().code(2);
}

#[test]
fn lanes_and_streams_replace_the_levels_and_are_recorded() {
    let dir = TempDir::new().unwrap();
    let text = "Anarchism is a political philosophy that advocates self-governed societies.\n".repeat(300);
    // (4 KiB blocks: a group of 2 lanes x 3 streams is 24 KiB, and 22 kB keeps both lanes)
    // (flags, and the lanes, streams and sharing they give)
    let cases = [
        ("-4 --block-size 4K --lanes 2 --streams 3", (2, 3, true)),
        ("-6 --block-size 4K", (1, 4, false)),
        ("-1 --lanes 3", (3, 1, false)),
        ("-2 --lanes 2", (2, 1, true)),
        ("-1", (1, 1, false)),
    ];
    for (k, (flags, want)) in cases.into_iter().enumerate() {
        let src = write(&dir, &format!("t{k}.txt"), text.as_bytes());
        s2s().args(["compress", "-T2"]).args(flags.split(' ')).arg(&src).assert().success();
        let packed = dir.path().join(format!("t{k}.txt.s2s"));
        let bytes = std::fs::read(&packed).unwrap();
        let cm = s2s2s::format::read_frame_header(&mut &bytes[..]).unwrap().unwrap().cm.unwrap();
        assert_eq!((cm.lanes, cm.streams, cm.share), want, "{flags}");
        std::fs::remove_file(&src).unwrap();
        s2s().args(["decompress", "-T1"]).arg(&packed).assert().success();
        assert_eq!(std::fs::read(&src).unwrap(), text.as_bytes(), "{flags}");
    }
    for bad in [["--lanes", "0"], ["--lanes", "9"], ["--streams", "0"], ["--streams", "33"]] {
        s2s().args(["compress", "-c"]).args(bad).write_stdin("x").assert().code(2);
    }
}
