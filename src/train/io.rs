//! Files of a run: JSON, safetensors, atomic writes.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use crate::error::{Error, Result};

pub(super) fn json_err(e: serde_json::Error) -> Error {
    Error::Train(format!("json: {e}"))
}

pub(super) fn safetensors_bytes(data: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("t.safetensors");
    candle_core::safetensors::save(&data.iter().cloned().collect::<HashMap<_, _>>(), &path)?;
    Ok(std::fs::read(path)?)
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
