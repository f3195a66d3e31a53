//! What turns the context into a distribution beside the network: models of the block's own
//! statistics ([`adaptive`]) and the mixer that combines them with the network ([`mixer`]).

#![forbid(unsafe_code)]

pub mod adaptive;
pub mod cm;
pub mod mixer;
