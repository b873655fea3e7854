//! Stage 1, the job contract (DESIGN.md §2–3): TOOL_ID, RUN_ID,
//! INPUTS_JSON, RESOURCES_JSON, S3_RESULT_URI / RESULT_URI, overridden by
//! flags.
//!
//! Reads text and names; it does not validate inputs against a spec.

use std::path::PathBuf;

use crate::error::Error;
use crate::uri::{ResultTarget, Scheme};

mod document;

use document::given_document;
pub use document::{Document, read_document, read_line};

/// What the command line asked for (flags only; `None` = not given).
#[derive(Debug, Default)]
pub struct RunRequest {
    pub spec: Option<PathBuf>,
    pub tool_id: Option<String>,
    pub specs_dir: Option<PathBuf>,
    pub inputs: Option<String>,
    /// `--inputs-line N FILE`: line N (from 1) of a JSON Lines file.
    pub inputs_line: Option<(u64, PathBuf)>,
    pub resources: Option<String>,
    pub result_uri: Option<String>,
    pub run_id: Option<String>,
    pub workdir: Option<PathBuf>,
    pub keep_workdir: bool,
    pub runner: RunnerKind,
    pub container: ContainerOptions,
    pub timeout: Option<u64>,
    pub no_input_checksums: bool,
    pub rerun: bool,
    pub overwrite: bool,
    /// `--sign-key`: the private key results are signed with.
    pub sign_key: Option<PathBuf>,
    pub upload_on_failure: bool,
}

/// How the command runs (`--runner`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunnerKind {
    /// Directly on this machine.
    #[default]
    Local,
    /// In the spec's image, with Docker.
    Docker,
    /// In the spec's image, with Podman.
    Podman,
}

impl RunnerKind {
    pub fn name(self) -> &'static str {
        match self {
            RunnerKind::Local => "local",
            RunnerKind::Docker => "docker",
            RunnerKind::Podman => "podman",
        }
    }
}

/// When a container runner pulls the image (`--pull`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pull {
    /// Only when it is not on this machine.
    #[default]
    Missing,
    Always,
    Never,
}

impl Pull {
    /// The engines' `--pull` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Pull::Missing => "missing",
            Pull::Always => "always",
            Pull::Never => "never",
        }
    }
}

/// The command line's say on how a container runs.
#[derive(Clone, Debug, Default)]
pub struct ContainerOptions {
    /// The image, over the spec's `requirements.container`.
    pub image: Option<String>,
    pub pull: Pull,
    /// `uid:gid` to run as (default: the invoking user's).
    pub user: Option<String>,
    /// Launcher environment variables to pass into the container.
    pub env: Vec<String>,
}

/// Which spec a run names: a file (`--spec`), or a tool id, looked up in
/// the specs directory and then among the built-in specs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecRef {
    File(PathBuf),
    Tool { dir: PathBuf, id: String },
}

impl SpecRef {
    /// The tool id the reference implies, for results.json before the spec
    /// is read.
    pub fn tool_id(&self) -> String {
        match self {
            SpecRef::File(path) => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            SpecRef::Tool { id, .. } => id.clone(),
        }
    }
}

/// The contract of one run, flags over environment.
#[derive(Debug)]
pub struct Contract {
    pub spec: SpecRef,
    pub tool_id: Option<String>,
    pub run_id: String,
    pub inputs: Document,
    pub resources: Document,
    pub result: Option<ResultTarget>,
    pub workdir: Option<PathBuf>,
    pub keep_workdir: bool,
    pub runner: RunnerKind,
    pub container: ContainerOptions,
    /// `--timeout` in seconds; 0 means no limit.
    pub timeout: Option<u64>,
    /// The batch system's job this run is, when it says.
    pub job: Option<BatchJob>,
    /// Hash every File input (`--no-input-checksums` turns it off).
    pub input_checksums: bool,
    /// Run even when this job already succeeded at the result target.
    pub rerun: bool,
    /// Replace another job's results at the result target.
    pub overwrite: bool,
    /// Sign what is stored (`--sign-key`, `OMNI_SIGNING_KEY_FILE`).
    pub sign_key: Option<crate::sign::SigningKey>,
    /// Store the outputs a failed tool left, marked partial.
    pub upload_on_failure: bool,
}

/// The batch system's own name for this run: what its console and logs
/// call it, and which attempt this is.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BatchJob {
    /// `aws-batch`, `azure-batch` or `slurm`.
    pub system: &'static str,
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// 1 for the first attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array_index: Option<u64>,
    /// The queue, pool or partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl BatchJob {
    /// From the variables AWS Batch, Azure Batch and Slurm set.
    fn from_env(env: &dyn Env) -> Result<Option<Self>, Error> {
        let var = |name: &str| env.var(name);
        let number = |name: &str| -> Result<Option<u64>, Error> {
            Ok(var(name)?.and_then(|v| v.trim().parse().ok()))
        };
        if let Some(job_id) = var("AWS_BATCH_JOB_ID")? {
            return Ok(Some(Self {
                system: "aws-batch",
                job_id,
                attempt: number("AWS_BATCH_JOB_ATTEMPT")?,
                array_index: number("AWS_BATCH_JOB_ARRAY_INDEX")?,
                queue: var("AWS_BATCH_JQ_NAME")?,
                ..Self::default()
            }));
        }
        if let Some(job_id) = var("AZ_BATCH_JOB_ID")? {
            return Ok(Some(Self {
                system: "azure-batch",
                job_id,
                task_id: var("AZ_BATCH_TASK_ID")?,
                queue: var("AZ_BATCH_POOL_ID")?,
                ..Self::default()
            }));
        }
        if let Some(job_id) = var("SLURM_JOB_ID")? {
            return Ok(Some(Self {
                system: "slurm",
                job_id,
                // Slurm counts requeues from 0.
                attempt: number("SLURM_RESTART_COUNT")?.map(|n| n + 1).or(Some(1)),
                array_index: number("SLURM_ARRAY_TASK_ID")?,
                queue: var("SLURM_JOB_PARTITION")?,
                ..Self::default()
            }));
        }
        Ok(None)
    }
}

/// Where the environment comes from (the process, or a map in tests).
pub trait Env {
    /// The variable's value; `None` when unset or empty. A value that is
    /// not UTF-8 is a usage error naming the variable, never ignored.
    fn var(&self, name: &str) -> Result<Option<String>, Error>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Result<Option<String>, Error> {
        match std::env::var(name) {
            Ok(v) => Ok(Some(v).filter(|v| !v.is_empty())),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Usage(format!(
                "the environment variable {name} is not valid UTF-8"
            ))),
        }
    }
}

/// The specs directory: `--specs-dir`, `$OMNI_TOOL_SPECS`, `./tool-specs`.
pub fn specs_dir(flag: Option<PathBuf>, env: &dyn Env) -> Result<PathBuf, Error> {
    Ok(match flag {
        Some(dir) => dir,
        None => env
            .var("OMNI_TOOL_SPECS")?
            .map_or_else(|| PathBuf::from("tool-specs"), PathBuf::from),
    })
}

/// The rule for tool ids (spec `id` and TOOL_ID): `[a-z0-9_-]+`.
pub fn valid_tool_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Run ids name directories and object keys.
fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
}

/// `run-20261122T100000Z-1a2b3c`.
pub fn generate_run_id() -> String {
    format!(
        "run-{}-{:06x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        crate::files::random_u32() & 0xff_ffff
    )
}

impl Contract {
    pub fn read(req: RunRequest, env: &dyn Env) -> Result<Self, Error> {
        let tool_id = match req.tool_id {
            Some(id) => Some(id),
            None => env.var("TOOL_ID")?,
        };
        if let Some(id) = &tool_id
            && !valid_tool_id(id)
        {
            return Err(Error::Usage(format!(
                "invalid TOOL_ID \"{id}\": use only lowercase letters, digits, `_` and `-`"
            )));
        }
        let spec = match (req.spec, &tool_id) {
            (Some(path), _) => SpecRef::File(path),
            (None, Some(id)) => SpecRef::Tool {
                dir: specs_dir(req.specs_dir, env)?,
                id: id.clone(),
            },
            (None, None) => {
                return Err(Error::Usage(
                    "no tool given: pass --spec FILE or a TOOL_ID (argument or environment)".into(),
                ));
            }
        };
        let run_id = match req.run_id {
            Some(id) => Some(id),
            None => env.var("RUN_ID")?,
        };
        let run_id = match run_id {
            Some(id) if valid_run_id(&id) => id,
            Some(id) => {
                return Err(Error::Usage(format!(
                    "invalid RUN_ID \"{}\": use letters, digits and - _ . : @ (at most 200)",
                    id.escape_debug()
                )));
            }
            None => generate_run_id(),
        };
        let inputs = match (req.inputs, req.inputs_line) {
            (_, Some((line, path))) => read_line(&path, line)?,
            (Some(arg), None) => read_document(&arg, "--inputs")?,
            (None, None) => given_document(
                env.var("INPUTS_JSON")?.unwrap_or_else(|| "{}".into()),
                "INPUTS_JSON",
            )?,
        };
        let resources = match req.resources {
            Some(arg) => read_document(&arg, "--resources")?,
            None => given_document(
                env.var("RESOURCES_JSON")?.unwrap_or_else(|| "{}".into()),
                "RESOURCES_JSON",
            )?,
        };
        let result_uri = match req.result_uri {
            Some(uri) => Some(uri),
            None => match (env.var("S3_RESULT_URI")?, env.var("RESULT_URI")?) {
                (Some(a), Some(b)) if a != b => {
                    return Err(Error::Usage(format!(
                        "S3_RESULT_URI (\"{a}\") and RESULT_URI (\"{b}\") differ; set one"
                    )));
                }
                (a, b) => a.or(b),
            },
        };
        let result = result_uri
            .as_deref()
            .map(ResultTarget::parse)
            .transpose()
            .map_err(|err| Error::Usage(err.to_string()))?;
        // A bad part size would only show after the tool ran.
        if result
            .as_ref()
            .is_some_and(|r| r.uri.scheme != Scheme::File)
        {
            crate::objects::part_size()?;
        }
        let sign_key = match req.sign_key {
            Some(path) => Some(path),
            None => env.var("OMNI_SIGNING_KEY_FILE")?.map(PathBuf::from),
        };
        let sign_key = match sign_key {
            Some(path) => {
                let text =
                    crate::files::read_regular(&path, crate::files::MAX_SPEC).map_err(|err| {
                        Error::Usage(format!(
                            "cannot read the signing key {}: {err}",
                            path.display()
                        ))
                    })?;
                let key = crate::sign::SigningKey::from_pem(&String::from_utf8_lossy(&text))
                    .map_err(|why| {
                        Error::Usage(format!("the signing key {}: {why}", path.display()))
                    })?;
                if result.is_none() {
                    return Err(Error::Usage(
                        "--sign-key signs what is stored: give a result URI too".into(),
                    ));
                }
                Some(key)
            }
            None => None,
        };
        let runner = req.runner;
        let container = req.container;
        Ok(Self {
            spec,
            tool_id,
            run_id,
            inputs,
            resources,
            result,
            workdir: req.workdir,
            keep_workdir: req.keep_workdir,
            runner,
            container,
            timeout: req.timeout,
            job: BatchJob::from_env(env)?,
            input_checksums: !req.no_input_checksums,
            rerun: req.rerun,
            overwrite: req.overwrite,
            sign_key,
            upload_on_failure: req.upload_on_failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Result<Option<String>, Error> {
            Ok(self.0.get(name).map(|v| v.to_string()))
        }
    }

    #[test]
    fn environment_and_flags() {
        let env = MapEnv(HashMap::from([
            ("TOOL_ID", "echo_test"),
            ("RUN_ID", "r1"),
            ("S3_RESULT_URI", "s3://b/p/"),
        ]));
        let c = Contract::read(RunRequest::default(), &env).unwrap();
        assert_eq!(
            c.spec,
            SpecRef::Tool {
                dir: PathBuf::from("tool-specs"),
                id: "echo_test".into()
            }
        );
        assert_eq!(c.run_id, "r1");
        assert_eq!(
            c.result.map(|r| r.results_uri()).as_deref(),
            Some("s3://b/p/results.json")
        );
        let req = RunRequest {
            run_id: Some("r2".into()),
            ..Default::default()
        };
        assert_eq!(Contract::read(req, &env).unwrap().run_id, "r2");
    }

    #[test]
    fn conflicting_uris_are_usage_errors() {
        let env = MapEnv(HashMap::from([
            ("TOOL_ID", "x"),
            ("S3_RESULT_URI", "s3://b/p/"),
            ("RESULT_URI", "s3://b/q/"),
        ]));
        let err = Contract::read(RunRequest::default(), &env).unwrap_err();
        assert_eq!(err.exit_code(), 64);
    }

    #[test]
    fn generated_run_ids_are_valid() {
        assert!(valid_run_id(&generate_run_id()));
        assert!(!valid_run_id("../x"));
    }
}
