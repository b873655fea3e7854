//! `omni-launch export`: specs as the rules of a workflow engine, which
//! then fans jobs out and schedules them (Slurm, Kubernetes, AWS Batch …)
//! while every job stays one `omni-launch run`.

pub mod snakemake;

use crate::spec::Spec;

/// A spec to export and how a job names it to `omni-launch run`.
pub struct Tool {
    pub spec: Spec,
    pub reference: Reference,
}

pub enum Reference {
    /// A spec file, as the user named it (relative to where the workflow
    /// runs, when relative).
    File(String),
    /// A spec built into the binary, by id.
    Builtin(String),
}
