//! The builder every integration test uses: runs the real binary from the
//! repository root with a clean contract environment, and redacts what
//! changes from run to run.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_omni-launch");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// The contract variables a test must never inherit.
const CONTRACT: &[&str] = &[
    "TOOL_ID",
    "RUN_ID",
    "INPUTS_JSON",
    "RESOURCES_JSON",
    "S3_RESULT_URI",
    "RESULT_URI",
    "OMNI_TOOL_SPECS",
];

/// A command for the real binary, run from the repository root.
pub fn omni() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(BIN);
    cmd.current_dir(root());
    for var in CONTRACT {
        cmd.env_remove(var);
    }
    cmd.env("OMNI_KILL_GRACE_S", "2");
    cmd
}

/// The same, as a std command (for tests that signal or stream).
pub fn omni_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(root());
    for var in CONTRACT {
        cmd.env_remove(var);
    }
    cmd.env("OMNI_KILL_GRACE_S", "2");
    cmd
}

/// Sends SIGTERM to a launcher started with `omni_std`.
pub fn sigterm(child: &std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

/// What one run printed.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The work-directory base of a `launch`, removed with the result.
    _base: Option<tempfile::TempDir>,
}

impl Ran {
    /// The run's work directory, from its results.json.
    pub fn workdir(&self) -> PathBuf {
        PathBuf::from(self.json()["workdir"].as_str().unwrap_or_default())
    }

    /// Where the launcher kept the tool's stdout (with `--keep-workdir`).
    pub fn tool_stdout(&self) -> PathBuf {
        self.workdir().join(".omni-launch/stdout")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn ran(output: Output) -> Ran {
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        _base: None,
    }
}

pub fn run(cmd: &mut assert_cmd::Command) -> Ran {
    ran(cmd.output().expect("the binary runs"))
}

/// `omni-launch run ARGS… --workdir <fresh base>`; the base lives as long
/// as the result.
pub fn launch(args: &[&str]) -> Ran {
    launch_with(&[], args)
}

/// `launch` with extra environment variables.
pub fn launch_with(env: &[(&str, &str)], args: &[&str]) -> Ran {
    let base = workdir();
    let mut cmd = omni();
    cmd.envs(env.iter().copied())
        .arg("run")
        .args(args)
        .arg("--workdir")
        .arg(base.path());
    Ran {
        _base: Some(base),
        ..run(&mut cmd)
    }
}

/// A fresh work-directory base for one test.
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("omni-test-")
        .tempdir()
        .expect("a temp dir")
}

/// Replaces the repository root and temp paths with stable names.
pub fn redact(text: &str, temps: &[&Path]) -> String {
    let mut text = text.replace(&root().display().to_string(), "[ROOT]");
    for (i, t) in temps.iter().enumerate() {
        text = text.replace(&t.display().to_string(), &format!("[TMP{i}]"));
    }
    text
}
