//! Helpers every test module shares.

use std::path::Path;
use std::sync::OnceLock;

use assert_cmd::Command;
use s2s2s::{Model, PreparedModel};

/// The tiny fixture model (`tests/data/tiny`), loaded once.
pub fn tiny_model() -> &'static PreparedModel {
    static C: OnceLock<PreparedModel> = OnceLock::new();
    C.get_or_init(|| PreparedModel::new(Model::load(Path::new("tests/data/tiny")).unwrap()).unwrap())
}

/// The real binary.
pub fn s2s() -> Command {
    Command::cargo_bin("s2s2s").unwrap()
}

/// The names in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}
