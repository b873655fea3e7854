//! One integration-test binary: every test runs the real `omni-launch`.

mod blast;
mod inputs;
mod outputs;
mod process;
mod proxy;
mod render;
mod run;
mod servers;
mod stores;
mod util;
mod validate;
