//! The builder every integration test uses: runs the real binary from the
//! repository root with a clean contract environment, asserts the exit
//! code, stdout and stderr of every run, and redacts what changes from run
//! to run.
//!
//! Every `Test` checks, whatever else the test asks:
//! * the exit code is the expected one (0 unless `.code(n)`);
//! * stderr shows no panic, and a failure says `omni-launch: error:`;
//! * for `run`, stdout is exactly one results.json whose `exit_code` and
//!   `ok` agree with the process's exit code.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_omni-launch");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

/// A std command for the real binary, run from the repository root (for
/// tests that signal or stream; `Test` for everything else).
pub fn omni_std() -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(root());
    for var in CONTRACT {
        cmd.env_remove(var);
    }
    cmd.env("OMNI_KILL_GRACE_S", "2");
    cmd
}

/// Sends a signal to a launcher started with `omni_std`.
pub fn signal(child: &std::process::Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, signal).unwrap();
}

/// Sends SIGTERM to a launcher started with `omni_std`.
pub fn sigterm(child: &std::process::Child) {
    signal(child, nix::sys::signal::Signal::SIGTERM);
}

/// One run of the binary, with what it must show.
pub struct Test {
    cmd: assert_cmd::Command,
    args: Vec<String>,
    code: i32,
    /// `omni-launch run`: stdout must be results.json.
    results: bool,
    base: Option<tempfile::TempDir>,
    stdout_has: Vec<String>,
    stderr_has: Vec<String>,
}

impl Test {
    /// `omni-launch ARGS…`.
    pub fn new(args: &[&str]) -> Self {
        let mut cmd = assert_cmd::Command::new(BIN);
        cmd.current_dir(root());
        for var in CONTRACT {
            cmd.env_remove(var);
        }
        cmd.env("OMNI_KILL_GRACE_S", "2");
        Self {
            cmd,
            args: args.iter().map(|a| a.to_string()).collect(),
            code: 0,
            results: args.first() == Some(&"run"),
            base: None,
            stdout_has: Vec::new(),
            stderr_has: Vec::new(),
        }
    }

    /// `omni-launch run ARGS… --workdir <a fresh base>`; the base lives as
    /// long as the result.
    pub fn run(args: &[&str]) -> Self {
        let base = workdir();
        let mut test = Self::new(&["run"]);
        test.args.extend(args.iter().map(|a| a.to_string()));
        test.args.push("--workdir".into());
        test.args.push(base.path().display().to_string());
        test.base = Some(base);
        test
    }

    /// A run that fails before results.json exists (the contract could not
    /// be read): stdout must be empty.
    pub fn no_results(mut self) -> Self {
        self.results = false;
        self.stdout_has.clear();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(arg.as_ref().to_string_lossy().into_owned());
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn envs<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        for (k, v) in pairs {
            self.cmd.env(k.as_ref(), v.as_ref());
        }
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.cmd.write_stdin(text.to_string());
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// The expected exit code (default 0).
    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    pub fn stdout_has(mut self, text: &str) -> Self {
        self.stdout_has.push(text.to_string());
        self
    }

    pub fn stderr_has(mut self, text: &str) -> Self {
        self.stderr_has.push(text.to_string());
        self
    }

    /// Runs it and asserts everything it must show.
    pub fn go(mut self) -> Ran {
        let output = self.cmd.args(&self.args).output().expect("the binary runs");
        let ran = Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            _base: self.base.take(),
        };
        let what = format!("omni-launch {}", self.args.join(" "));
        ran.check(&what, self.code, self.results);
        for text in &self.stdout_has {
            assert!(
                ran.stdout.contains(text),
                "{what}: stdout lacks {text:?}:\n{}",
                ran.stdout
            );
        }
        for text in &self.stderr_has {
            assert!(
                ran.stderr.contains(text),
                "{what}: stderr lacks {text:?}:\n{}",
                ran.stderr
            );
        }
        ran
    }
}

/// What one run printed.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The work-directory base of a `Test::run`, removed with the result.
    _base: Option<tempfile::TempDir>,
}

impl Ran {
    /// The same checks as `Test::go`, for a run started by hand.
    pub fn from_output(output: std::process::Output, code: i32, results: bool) -> Self {
        let ran = Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            _base: None,
        };
        ran.check("omni-launch", code, results);
        ran
    }

    fn check(&self, what: &str, code: i32, results: bool) {
        assert_eq!(
            self.code, code,
            "{what}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "{what}: panicked:\n{}",
            self.stderr
        );
        // A failure says why: on stderr (ours, or clap's for a bad command
        // line), or in validate's report.
        // Text, or a JSON log line (OMNI_LOG_FORMAT=json).
        let ours = self.stderr.contains("omni-launch: error: ")
            || self.stderr.contains(r#""level":"error""#);
        let said = ours || self.stderr.lines().any(|l| l.starts_with("error: "));
        if code == 0 {
            assert!(!ours, "{what}: success with an error:\n{}", self.stderr);
        } else {
            assert!(
                said || (!results && !self.stdout.is_empty()),
                "{what}: a failure must say why:\n{}",
                self.stderr
            );
        }
        if results {
            let doc = self.json();
            assert_eq!(doc["exit_code"], code, "{what}: results.json exit_code");
            assert_eq!(doc["ok"], code == 0, "{what}: results.json ok");
            assert_eq!(
                doc["error"].is_null(),
                code == 0,
                "{what}: results.json error: {}",
                doc["error"]
            );
        }
    }

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
                "stdout is not one JSON document ({err}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The `error.message` of results.json.
    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A fresh temporary directory for one test.
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
        let real = t.canonicalize().unwrap_or_else(|_| t.to_path_buf());
        text = text.replace(&real.display().to_string(), &format!("[TMP{i}]"));
        text = text.replace(&t.display().to_string(), &format!("[TMP{i}]"));
    }
    text
}

/// Whether a process is running (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !status.is_empty() && !status.contains(") Z ")
}

/// The processes whose parent is `parent`.
pub fn children(parent: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Starts `omni-launch run` of the sleep fixture (60 s, with a background
/// child) in `base` as run `run_id`; returns the launcher and, once the
/// tool has started, its background child's pid.
// The child is handed to the caller, who waits for it.
#[allow(clippy::zombie_processes)]
pub fn start_sleeper(base: &Path, run_id: &str) -> (std::process::Child, i32) {
    let mut child = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/sleep.yaml",
            "--inputs",
            r#"{"secs": 60}"#,
            "--run-id",
            run_id,
            "--workdir",
        ])
        .arg(base)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = base.canonicalize().unwrap().join(run_id).join("bg.pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            return (child, pid);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the tool never started");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
