//! One module per command.

pub mod bench;
pub mod codec;
pub mod info;
#[cfg(feature = "train")]
pub mod train;
