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

/// Exit code, stdout and stderr of a run, with the temporary directory's path replaced.
pub fn seen(cmd: &mut Command, dir: Option<&tempfile::TempDir>) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match dir {
        Some(d) => text.replace(&d.path().display().to_string(), "[DIR]"),
        None => text,
    }
}
