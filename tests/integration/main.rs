//! One integration-test binary: every test runs the real `omni-launch`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bio;
mod blast;
mod containers;
mod cookbook;
mod inputs;
mod outputs;
mod process;
mod properties;
mod provenance;
mod proxy;
mod regression;
mod render;
mod run;
mod servers;
mod stores;
mod transfers;
mod util;
mod validate;
mod workflows;
