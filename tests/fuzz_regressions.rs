//! Replays every input that made a fuzz target fail (`tests/fuzz_regressions/<target>/`)
//! through the same code the targets run. Those that crashed the parser or the decompressor
//! are all damaged files, so each must now be a clean error.

use std::path::Path;

#[path = "../fuzz/fuzz_targets/shared.rs"]
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

#[test]
fn container_crashes_stay_fixed() {
    for data in inputs("container") {
        assert!(shared::container(&data).is_err());
    }
}

#[test]
fn decompress_crashes_stay_fixed() {
    let codec = shared::tiny_model(Path::new("."));
    for data in inputs("decompress") {
        assert!(shared::decompress(&codec, &data).is_err());
    }
}

#[test]
fn roundtrip_failures_stay_fixed() {
    let codec = shared::tiny_model(Path::new("."));
    for data in inputs("roundtrip") {
        shared::roundtrip(&codec, &data);
    }
}
