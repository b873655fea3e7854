//! omni-launch: turns a command-line program into a cloud-portable tool
//! from a YAML spec. The pipeline reads, stage by stage:
//! contract → spec → inputs → stage → runtime → render → exec → collect →
//! results → store.

pub mod app;
pub mod cli;
pub mod collect;
pub mod contract;
pub mod diag;
pub mod error;
pub mod exec;
pub mod inputs;
pub mod render;
pub mod results;
pub mod run;
pub mod runtime;
pub mod schema;
pub mod spec;
pub mod stage;
pub mod store;
pub mod suggest;
pub mod validate;
pub mod yaml;
