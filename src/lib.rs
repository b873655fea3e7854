//! omni-launch: turns a command-line program into a cloud-portable tool
//! from a YAML spec. The pipeline reads, stage by stage:
//! contract → spec → inputs → stage → runtime → render → exec → collect →
//! results → store.
//!
//! The stages build on a ground floor that imports none of them: `error`,
//! `diag`, `suggest`, `yaml`, `json`, `files`, `uri`, `types`, `value`,
//! `cwl`, `template`, `workdir` and `objects` (the object-store client). `run` sequences the
//! stages; `app` is the binary's entry, `cli` its only clap user.
//!
//! Public for the binary, the tests and the fuzz targets: `app` (the entry
//! point), `spec` (parsing), `inputs` and `runtime` (validation and File
//! objects), `template` (rendering), `schema` and `value`.

pub mod app;
mod cli;
mod collect;
mod contract;
mod cwl;
mod diag;
mod digest;
mod error;
mod exec;
mod export;
mod files;
pub mod inputs;
mod json;
mod list;
mod objects;
mod progress;
mod redact;
mod render;
mod results;
mod run;
pub mod runtime;
mod scaffold;
pub mod schema;
mod sign;
pub mod spec;
mod stage;
mod startup;
mod store;
mod suggest;
pub mod template;
mod types;
mod uri;
mod validate;
pub mod value;
mod verify;
mod workdir;
mod yaml;
