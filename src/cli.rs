//! Command-line arguments (DESIGN.md §2), parsed by clap. The only module
//! that knows clap; it hands plain requests to the core.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::contract::{ContainerOptions, Pull, RunRequest, RunnerKind};

#[derive(Debug, Parser)]
#[command(
    name = "omni-launch",
    version,
    about = "Turn any command-line program into a well-behaved, cloud-portable tool from a YAML spec",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Each command's arguments are built only when it is the one chosen
/// (`defer`): a run does not pay for the others'.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run one job: validate inputs, stage, render, execute, collect, store.
    /// Prints results.json on stdout.
    Run(RunArgs),
    /// Check specs (and optionally an inputs document); non-zero exit on any error.
    Validate(ValidateArgs),
    /// Print the exact command a run would execute; runs nothing.
    Render(RenderArgs),
    /// Print the JSON Schema (2020-12) of a spec's inputs, or of the spec format.
    Schema(SchemaArgs),
    /// Print an example inputs document for a spec: every input, defaults filled.
    InputsTemplate(InputsTemplateArgs),
    /// Write a commented starter spec (tool-specs/<ID>.yaml) that validates.
    New(NewArgs),
    /// List the tools a specs directory and the binary offer.
    List(ListArgs),
    /// Check a stored run: every output and log read again against results.json,
    /// and the signature (results.json.sig) with a public key.
    Verify(VerifyArgs),
    /// Write specs as a workflow engine's rules (Snakemake), so that it fans
    /// jobs out and schedules them (Slurm, Kubernetes, AWS Batch …).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One Snakemake rule per spec, for a Snakefile to `include:`; its
    /// jobs run `omni-launch run` and store to file:// under results/.
    Snakemake(ExportSnakemakeArgs),
}

#[derive(Debug, Args)]
pub struct ExportSnakemakeArgs {
    /// Spec files, or ids of tools in the specs directory or built in.
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The result URI the run stored to (a prefix, or its results.json).
    #[arg(value_name = "URI")]
    pub uri: String,
    /// The Ed25519 public key (PEM, as `openssl pkey -pubout` writes it); with
    /// it, a missing or bad signature fails the check.
    #[arg(long, value_name = "PUB.pem")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tool to run (default: $TOOL_ID); its spec is <specs-dir>/<TOOL_ID>.yaml, else the built-in one.
    #[arg(value_name = "TOOL_ID")]
    pub tool_id: Option<String>,
    /// The spec file (instead of looking TOOL_ID up in the specs directory).
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Where specs are looked up (default: $OMNI_TOOL_SPECS, else ./tool-specs).
    #[arg(long, value_name = "DIR")]
    pub specs_dir: Option<PathBuf>,
    /// Inputs as JSON, @file or - for stdin (default: $INPUTS_JSON).
    #[arg(long, value_name = "JSON")]
    pub inputs: Option<String>,
    /// Inputs from line N (from 1) of a JSON Lines file: one job of many,
    /// e.g. `--inputs-line "$SLURM_ARRAY_TASK_ID" jobs.jsonl`.
    #[arg(long, num_args = 2, value_names = ["N", "FILE"], conflicts_with = "inputs")]
    pub inputs_line: Option<Vec<String>>,
    /// Resources as JSON, @file or - (default: $RESOURCES_JSON).
    #[arg(long, value_name = "JSON")]
    pub resources: Option<String>,
    /// Where results go: s3://, azureblob:// or file:// (default: $S3_RESULT_URI or $RESULT_URI).
    #[arg(long, value_name = "URI")]
    pub result_uri: Option<String>,
    /// The run id (default: $RUN_ID, else generated).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Base directory for the run's work directory <DIR>/<RUN_ID> (default: $TMPDIR/omni-launch).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Keep the work directory after a stored run.
    #[arg(long)]
    pub keep_workdir: bool,
    /// How to run the command.
    #[arg(long, value_enum, default_value = "local")]
    pub runner: RunnerArg,
    #[command(flatten)]
    pub container: ContainerArgs,
    /// Time limit in seconds (default: resources.time_limit_s).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Do not hash local File inputs (for very large shared files); remote
    /// inputs are hashed as they download, and a given checksum is checked
    /// anyway.
    #[arg(long)]
    pub no_input_checksums: bool,
    /// Run even if this job (the same spec and inputs) already succeeded at
    /// the result URI; without it, such a run prints the stored results.json
    /// and does nothing.
    #[arg(long)]
    pub rerun: bool,
    /// Replace the results of another job at the result URI (never done
    /// otherwise).
    #[arg(long)]
    pub overwrite: bool,
    /// Sign the stored results with this Ed25519 private key (PKCS#8 PEM, as
    /// `openssl genpkey -algorithm ed25519` writes it): results.json.sig, a
    /// DSSE envelope of an in-toto statement (default: $OMNI_SIGNING_KEY_FILE).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// When the tool fails, store the outputs it left anyway (results.json
    /// then says `"partial": true`), for debugging.
    #[arg(long)]
    pub upload_on_failure: bool,
}

impl TryFrom<RunArgs> for RunRequest {
    type Error = String;

    fn try_from(a: RunArgs) -> Result<Self, String> {
        let inputs_line = match a.inputs_line.as_deref() {
            Some([n, file]) => Some((
                n.parse::<u64>().map_err(|_| {
                    format!("--inputs-line: the line number \"{n}\" is not a whole number")
                })?,
                PathBuf::from(file),
            )),
            _ => None,
        };
        Ok(RunRequest {
            spec: a.spec,
            tool_id: a.tool_id,
            specs_dir: a.specs_dir,
            inputs: a.inputs,
            inputs_line,
            resources: a.resources,
            result_uri: a.result_uri,
            run_id: a.run_id,
            workdir: a.workdir,
            keep_workdir: a.keep_workdir,
            runner: a.runner.kind(),
            container: a.container.options(),
            timeout: a.timeout,
            no_input_checksums: a.no_input_checksums,
            rerun: a.rerun,
            overwrite: a.overwrite,
            sign_key: a.sign_key,
            upload_on_failure: a.upload_on_failure,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RunnerArg {
    /// Directly on this machine, in its own process group.
    Local,
    /// In the spec's image (requirements.container), with Docker.
    Docker,
    /// In the spec's image, with Podman.
    Podman,
}

impl RunnerArg {
    pub fn kind(self) -> RunnerKind {
        match self {
            RunnerArg::Local => RunnerKind::Local,
            RunnerArg::Docker => RunnerKind::Docker,
            RunnerArg::Podman => RunnerKind::Podman,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PullArg {
    /// Pull the image when it is not on this machine.
    Missing,
    /// Pull it every time.
    Always,
    /// Never pull; a missing image is an error.
    Never,
}

// How a container runner runs the tool. (A plain comment: a doc comment
// would become the `about` of the commands that flatten it, which build
// their arguments only when chosen: `defer` below.)
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// The image to run in (default: the spec's requirements.container).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// When to pull the image.
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullArg,
    /// Run as this uid:gid in the container (default: the invoking user's).
    #[arg(long, value_name = "UID:GID")]
    pub container_user: Option<String>,
    /// Pass this launcher environment variable into the container (repeatable).
    #[arg(long, value_name = "NAME")]
    pub container_env: Vec<String>,
}

impl ContainerArgs {
    pub fn options(&self) -> ContainerOptions {
        ContainerOptions {
            image: self.image.clone(),
            pull: match self.pull {
                PullArg::Missing => Pull::Missing,
                PullArg::Always => Pull::Always,
                PullArg::Never => Pull::Never,
            },
            user: self.container_user.clone(),
            env: self.container_env.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files to check.
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Also check an inputs document: JSON, @file or - for stdin.
    #[arg(long, value_name = "JSON")]
    pub inputs: Option<String>,
    /// Check that requirements.binaries are on PATH.
    #[arg(long)]
    pub check_binaries: bool,
    /// How to report problems.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RenderFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The spec: a file, or the id of a tool in the specs directory or built in.
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// Inputs as JSON, @file or - for stdin.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub inputs: String,
    /// Resources as JSON, @file or -.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub resources: String,
    /// The run id templates see.
    #[arg(long, value_name = "ID", default_value = "render")]
    pub run_id: String,
    /// The work directory templates see.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Show the container engine's command line for this runner.
    #[arg(long, value_enum, default_value = "local")]
    pub runner: RunnerArg,
    #[command(flatten)]
    pub container: ContainerArgs,
    /// text: the command line; json: command, argv and env.
    #[arg(long, value_enum, default_value = "text")]
    pub format: RenderFormat,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The spec: a file, or the id of a tool in the specs directory or built in.
    #[arg(value_name = "SPEC", required_unless_present = "spec_format")]
    pub spec: Option<String>,
    /// Print the JSON Schema of the tool-spec format itself (for editors).
    #[arg(long, conflicts_with = "spec")]
    pub spec_format: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The tool's id: lowercase letters, digits, `_` and `-`.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Draft the inputs from this program's --help, each marked for review.
    #[arg(long, value_name = "BINARY")]
    pub from_help: Option<String>,
    /// Where to write it (default: tool-specs/<ID>.yaml; - for stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InputsTemplateArgs {
    /// The spec: a file, or the id of a tool in the specs directory or built in.
    #[arg(value_name = "SPEC")]
    pub spec: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The specs directory (default: $OMNI_TOOL_SPECS, else ./tool-specs).
    #[arg(long, value_name = "DIR")]
    pub specs_dir: Option<PathBuf>,
}
