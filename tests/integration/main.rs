//! One integration-test binary: every test runs the real `omni-launch`.

mod blast;
mod inputs;
mod outputs;
mod process;
mod render;
mod run;
mod stores;
mod util;
mod validate;
