//! Replays every input that made a fuzz target fail (`tests/fuzz_regressions/<target>/`)
//! through the same code the targets run. Those that crashed the parser or the decompressor
//! are damaged files, so each must now be a clean error of both; and every input, as data,
//! must round trip.

use std::path::Path;

#[path = "../../fuzz/fuzz_targets/shared.rs"]
mod shared;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new("tests/fuzz_regressions").join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Every input that ever failed any target, from every directory.
fn all_inputs() -> Vec<Vec<u8>> {
    let all: Vec<Vec<u8>> = ["container", "decompress", "roundtrip"].iter().flat_map(|t| inputs(t)).collect();
    assert!(!all.is_empty(), "the regression inputs are missing");
    all
}

#[test]
fn damaged_files_that_crashed_a_parser_are_clean_errors() {
    let codec = shared::tiny_model(Path::new("."));
    let damaged: Vec<Vec<u8>> = inputs("container").into_iter().chain(inputs("decompress")).collect();
    assert!(!damaged.is_empty(), "the regression inputs are missing");
    for data in damaged {
        assert!(shared::container(&data).is_err());
        assert!(shared::decompress(&codec, &data).is_err());
    }
}

#[test]
fn every_regression_input_round_trips_as_data() {
    // Whatever crashed a parser is also just bytes that must survive compression.
    let codec = shared::tiny_model(Path::new("."));
    for data in all_inputs() {
        shared::roundtrip(&codec, &data);
    }
}
