//! The docker and podman runners, for real: images made with debootstrap
//! (no registry), a private daemon without networking of its own (see
//! .ci/containers.sh, which exports the variables these tests read), and
//! the top-level Dockerfile's image.
//!
//! Every runner test runs once per engine.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use crate::util::{Ran, Test, omni_std, root, signal, workdir};

/// One container engine and the images the tests use with it.
struct Engine {
    name: &'static str,
    /// A minimal Debian (`OMNI_TEST_IMAGE`).
    image: String,
}

impl Engine {
    fn docker() -> Self {
        Self::new("docker")
    }

    fn podman() -> Self {
        assert!(
            which::which("podman").is_ok(),
            "podman is needed: `. .ci/containers.sh` installs it (apt-get install podman catatonit)"
        );
        Self::new("podman")
    }

    fn new(name: &'static str) -> Self {
        let image = std::env::var("OMNI_TEST_IMAGE").unwrap_or_else(|_| {
            panic!("OMNI_TEST_IMAGE is not set: `. .ci/containers.sh` builds the test images")
        });
        let engine = Self { name, image };
        let version = engine.cmd(&["version"]).output().unwrap();
        assert!(
            version.status.success(),
            "{name} does not answer: {}",
            String::from_utf8_lossy(&version.stderr)
        );
        engine
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.name);
        cmd.args(args);
        cmd
    }

    /// Runs an engine command that must succeed; its stdout.
    fn output(&self, args: &[&str]) -> String {
        let output = self.cmd(args).output().unwrap();
        assert!(
            output.status.success(),
            "{} {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// The containers of a run id, in any state.
    fn containers(&self, run_id: &str, only_running: bool) -> Vec<String> {
        let label = format!("label=omni-launch.run-id={run_id}");
        let mut args = vec!["ps", "--all", "--quiet", "--filter", &label];
        if only_running {
            args.extend(["--filter", "status=running"]);
        }
        self.output(&args)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// `omni-launch run ARGS… --runner <engine> --image <image>`.
    fn run(&self, args: &[&str]) -> Test {
        let mut test = Test::run(args);
        for arg in ["--runner", self.name, "--image", &self.image] {
            test = test.arg(arg);
        }
        test
    }

    /// A run id of its own for one test on this engine.
    fn run_id(&self, test: &str) -> String {
        format!("{test}-{}-{}", self.name, std::process::id())
    }

    /// Waits until `check` holds, or fails after `secs`.
    fn wait_for(&self, what: &str, secs: u64, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check() {
            assert!(Instant::now() < deadline, "{}: {what}", self.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Writes a spec into `dir`; its path.
fn spec(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|err| panic!("{}: {err}", path.as_ref().display()))
}

fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn invoking_user() -> (u32, u32) {
    (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    )
}

/// Each function below runs for docker and for podman.
macro_rules! for_each_engine {
    ($($test:ident),* $(,)?) => {
        mod docker {
            $(
                #[test]
                #[ignore = "needs docker and the test images (. .ci/containers.sh); run with --run-ignored all"]
                fn $test() {
                    super::$test(&super::Engine::docker());
                }
            )*
        }
        mod podman {
            $(
                #[test]
                #[ignore = "needs podman and the test images (. .ci/containers.sh); run with --run-ignored all"]
                fn $test() {
                    super::$test(&super::Engine::podman());
                }
            )*
        }
    };
}

for_each_engine!(
    echo_test_runs_in_the_image_and_records_what_ran,
    files_keep_their_paths_and_outputs_belong_to_the_user,
    the_tool_has_no_network_and_none_of_the_launchers_secrets,
    failures_keep_their_exit_codes,
    a_time_limit_stops_the_container_and_leaves_none,
    sigterm_stops_the_container_and_leaves_none,
    a_killed_launcher_takes_its_container_along,
    a_missing_image_with_pull_never_is_a_usage_error,
    blastn_runs_in_its_image_against_a_database_made_there,
);

fn echo_test_runs_in_the_image_and_records_what_ran(engine: &Engine) {
    let text = "hi; $(touch /tmp/pwned) 'q\" `id` *";
    let run_id = engine.run_id("echo");
    let ran = engine
        .run(&[
            "echo_test",
            "--inputs",
            &json!({ "text": text }).to_string(),
            "--run-id",
            &run_id,
        ])
        .go();
    let doc = ran.json();
    assert_eq!(doc["results"]["echo"], text);
    assert_eq!(doc["launcher"]["runner"], engine.name);
    let container = &doc["launcher"]["container"];
    assert_eq!(container["image"], engine.image.as_str());
    assert!(
        container["engine"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} ", engine.name)),
        "{container}"
    );
    let id = engine.output(&["image", "inspect", "--format", "{{.Id}}", &engine.image]);
    let id = if id.contains(':') {
        id
    } else {
        format!("sha256:{id}")
    };
    assert_eq!(container["id"], id.as_str());
    // The account of a container's resources is the engine's, not ours.
    assert!(doc["usage"].is_null());
    assert!(engine.containers(&run_id, false).is_empty());
}

fn files_keep_their_paths_and_outputs_belong_to_the_user(engine: &Engine) {
    let data = workdir();
    let reads = data.path().join("my reads.fa");
    std::fs::write(&reads, ">r1\nACGT\n").unwrap();
    let spec = spec(
        data.path(),
        "inside",
        r#"
id: inside
inputs:
  reads: File
command: >-
  wc -c < {{ reads }} > count.txt &&
  { if (echo more >> {{ reads }}) 2>/dev/null; then echo writable; else echo read-only; fi; } > mode.txt &&
  printf '%s %s %s\n' "$(id -u):$(id -g)" "$HOME" "$TMPDIR" > who.txt
outputs:
  count: {type: File, glob: count.txt}
  mode: {type: File, glob: mode.txt}
  who: {type: File, glob: who.txt}
"#,
    );
    let inputs = json!({ "reads": reads }).to_string();

    // As the invoking user by default.
    let ran = engine
        .run(&["--spec", &spec, "--inputs", &inputs, "--keep-workdir"])
        .go();
    let workdir = ran.workdir();
    let (uid, gid) = invoking_user();
    assert_eq!(read(workdir.join("count.txt")).trim(), "9");
    assert_eq!(read(workdir.join("mode.txt")).trim(), "read-only");
    let home = workdir.display();
    assert_eq!(
        read(workdir.join("who.txt")).trim(),
        format!("{uid}:{gid} {home} {home}")
    );
    assert_eq!(read(&reads), ">r1\nACGT\n");
    let owner = std::fs::metadata(workdir.join("count.txt")).unwrap();
    assert_eq!((owner.uid(), owner.gid()), (uid, gid));

    // As another user, who can still write the work directory.
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: --container-user needs the launcher to run as root here");
        return;
    }
    let ran = engine
        .run(&[
            "--spec",
            &spec,
            "--inputs",
            &inputs,
            "--keep-workdir",
            "--container-user",
            "4321:4322",
        ])
        .go();
    let workdir = ran.workdir();
    assert!(read(workdir.join("who.txt")).starts_with("4321:4322 "));
    let owner = std::fs::metadata(workdir.join("count.txt")).unwrap();
    assert_eq!((owner.uid(), owner.gid()), (4321, 4322));
}

fn the_tool_has_no_network_and_none_of_the_launchers_secrets(engine: &Engine) {
    let data = workdir();
    let spec = spec(
        data.path(),
        "isolation",
        r#"
id: isolation
inputs: {}
command: ls /sys/class/net > net.txt && env > env.txt
outputs:
  net: {type: File, glob: net.txt}
  env: {type: File, glob: env.txt}
"#,
    );
    let run_id = engine.run_id("isolation");
    let ran = engine
        .run(&[
            "--spec",
            &spec,
            "--run-id",
            &run_id,
            "--keep-workdir",
            "--container-env",
            "OMNI_PASSED",
            "--container-env",
            "OMNI_UNSET_HERE",
        ])
        .env("AWS_SECRET_ACCESS_KEY", "launcher-secret")
        .env("AZURE_STORAGE_KEY", "launcher-secret")
        .env("OMNI_PASSED", "passed on")
        .env_remove("OMNI_UNSET_HERE")
        .go();
    let workdir = ran.workdir();
    assert_eq!(read(workdir.join("net.txt")), "lo\n");
    let env = read(workdir.join("env.txt"));
    assert!(!env.contains("launcher-secret"), "{env}");
    assert!(!env.contains("OMNI_UNSET_HERE"), "{env}");
    for line in [
        "OMNI_PASSED=passed on",
        "TOOL_ID=isolation",
        &format!("RUN_ID={run_id}"),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in:\n{env}");
    }
}

fn failures_keep_their_exit_codes(engine: &Engine) {
    let data = workdir();
    let spec = spec(
        data.path(),
        "fail",
        r#"
id: fail
inputs:
  how: {type: enum, symbols: [exit, hog]}
command: >-
  {% if how == "exit" %}echo giving up >&2; exit 3{% else %}tail /dev/zero{% endif %}
outputs: {}
"#,
    );
    let ran = engine
        .run(&["--spec", &spec, "--inputs", r#"{"how": "exit"}"#])
        .code(3)
        .go();
    assert_eq!(ran.json()["error"]["kind"], "tool_failed");
    assert!(ran.message().contains("giving up"), "{}", ran.message());

    // Killed by the kernel for its memory limit: known from the container's
    // state, where the engine records it (podman 4.3 on cgroup v1 does not:
    // the exit code is the same, the kind the tool's).
    let ran = engine
        .run(&[
            "--spec",
            &spec,
            "--inputs",
            r#"{"how": "hog"}"#,
            "--resources",
            r#"{"memory_mb": 64}"#,
        ])
        .code(137)
        .go();
    let kind = &ran.json()["error"]["kind"];
    if engine.name == "podman" && kind == "tool_failed" && !cgroup_v2() {
        eprintln!("podman did not record the OOM kill (cgroup v1)");
    } else {
        assert_eq!(kind, "out_of_memory");
    }
}

fn a_time_limit_stops_the_container_and_leaves_none(engine: &Engine) {
    let run_id = engine.run_id("timeout");
    let started = Instant::now();
    let ran = engine
        .run(&[
            "--spec",
            "fixtures/specs/run/sleep.yaml",
            "--inputs",
            r#"{"secs": 60}"#,
            "--timeout",
            "2",
            "--run-id",
            &run_id,
        ])
        .code(124)
        .go();
    assert_eq!(ran.json()["error"]["kind"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(engine.containers(&run_id, false).is_empty());
}

/// Starts a 60 s sleep in a container; returns once it runs.
fn start_sleeping(engine: &Engine, run_id: &str, base: &Path) -> std::process::Child {
    let child = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/sleep.yaml",
            "--inputs",
            r#"{"secs": 60}"#,
            "--run-id",
            run_id,
            "--runner",
            engine.name,
            "--image",
            &engine.image,
            "--workdir",
        ])
        .arg(base)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    engine.wait_for("the container never started", 60, || {
        !engine.containers(run_id, true).is_empty()
    });
    child
}

fn sigterm_stops_the_container_and_leaves_none(engine: &Engine) {
    let base = workdir();
    let run_id = engine.run_id("sigterm");
    let child = start_sleeping(engine, &run_id, base.path());
    let started = Instant::now();
    signal(&child, Signal::SIGTERM);
    let ran = Ran::from_output(child.wait_with_output().unwrap(), 143, true);
    assert_eq!(ran.json()["error"]["kind"], "signalled");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(engine.containers(&run_id, false).is_empty());
}

fn a_killed_launcher_takes_its_container_along(engine: &Engine) {
    let base = workdir();
    let run_id = engine.run_id("killed");
    let mut child = start_sleeping(engine, &run_id, base.path());
    signal(&child, Signal::SIGKILL);
    child.wait().unwrap();
    engine.wait_for("the container outlived its launcher", 30, || {
        engine.containers(&run_id, true).is_empty()
    });
    // What it left is removed when the run is tried again.
    engine
        .run(&[
            "echo_test",
            "--inputs",
            r#"{"text": "again"}"#,
            "--run-id",
            &run_id,
        ])
        .go();
    assert!(engine.containers(&run_id, false).is_empty());
}

fn a_missing_image_with_pull_never_is_a_usage_error(engine: &Engine) {
    let ran = Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--runner",
        engine.name,
        "--image",
        "omni-test/absent:never",
        "--pull",
        "never",
    ])
    .code(64)
    .go();
    let message = ran.message();
    assert!(
        message.contains("omni-test/absent:never") && message.contains("--pull never"),
        "{message}"
    );
}

fn blastn_runs_in_its_image_against_a_database_made_there(engine: &Engine) {
    let image = std::env::var("OMNI_TEST_BLAST_IMAGE").unwrap_or_else(|_| {
        panic!("OMNI_TEST_BLAST_IMAGE is not set: `. .ci/containers.sh` builds it")
    });
    let blast = Engine {
        name: engine.name,
        image,
    };
    let data = workdir();
    let store = workdir();
    std::fs::write(data.path().join("subject.fa"), crate::blast::SUBJECT).unwrap();
    std::fs::write(data.path().join("query.fa"), crate::blast::QUERY).unwrap();
    let db_uri = format!("file://{}/db-run/", store.path().display());
    let inputs = json!({"sequences": data.path().join("subject.fa"), "db_name": "subject"});
    blast
        .run(&[
            "makeblastdb",
            "--inputs",
            &inputs.to_string(),
            "--result-uri",
            &db_uri,
        ])
        .go();
    let inputs = json!({
        "query": data.path().join("query.fa"),
        "db": store.path().join("db-run/outputs/db/db"),
        "db_name": "subject",
        "evalue": 1e-5,
    });
    let ran = blast
        .run(&[
            "blastn",
            "--inputs",
            &inputs.to_string(),
            "--resources",
            r#"{"cpu": 1}"#,
            "--keep-workdir",
        ])
        .go();
    let text = read(ran.json()["results"]["hits"]["path"].as_str().unwrap());
    let first: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert_eq!(&first[..3], ["q1", "seq1", "100.000"]);
}

#[test]
fn render_prints_the_engine_command_line() {
    let ran = Test::new(&[
        "render",
        "echo_test",
        "--runner",
        "podman",
        "--image",
        "example/echo:1",
        "--inputs",
        r#"{"text": "a b"}"#,
        "--resources",
        r#"{"cpu": 2, "memory_mb": 512}"#,
        "--container-env",
        "OMNI_RENDER_VAR",
    ])
    .env("OMNI_RENDER_VAR", "v")
    .go();
    let (uid, gid) = invoking_user();
    let line = ran.stdout.trim();
    for part in [
        "podman run --name omni-launch-render-",
        "--label omni-launch.run-id=render --pull missing --init --security-opt no-new-privileges",
        &format!("--user {uid}:{gid}"),
        "--network none",
        "--env TOOL_ID=echo_test --env RUN_ID=render --env OMNI_RENDER_VAR=v",
        "--cpus 2 --memory 512m",
        r#"--entrypoint /bin/sh example/echo:1 -c 'printf '\''%s\n'\'' '\''a b'\'''"#,
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
}

/// The launcher in the top-level Dockerfile's image is one static binary:
/// copied into an image with no C library at all (nothing but itself), it
/// still starts, knows its built-in specs and validates a spec, so it can
/// be added to any tool's image.
#[test]
#[ignore = "needs docker and the launcher image (. .ci/containers.sh); run with --run-ignored all"]
fn the_launcher_binary_runs_in_an_image_without_a_c_library() {
    let image = std::env::var("OMNI_TEST_LAUNCHER_IMAGE").unwrap_or_else(|_| {
        panic!("OMNI_TEST_LAUNCHER_IMAGE is not set: `. .ci/containers.sh` builds it")
    });
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // An image holding one file: the binary, copied out of the launcher's.
    let dir = tempfile::tempdir().unwrap();
    let container = docker(&["create", &image]).trim().to_string();
    docker(&[
        "cp",
        &format!("{container}:/usr/local/bin/omni-launch"),
        dir.path().join("omni-launch").to_str().unwrap(),
    ]);
    docker(&["rm", &container]);
    let tar = Command::new("tar")
        .args([
            "-C",
            dir.path().to_str().unwrap(),
            "-cf",
            "-",
            "omni-launch",
        ])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let tag = format!("omni-test/launcher-alone:{}", std::process::id());
    let mut import = Command::new("docker")
        .args(["import", "-", &tag])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut import.stdin.take().unwrap(), &tar.stdout).unwrap();
    assert!(import.wait().unwrap().success());

    let alone = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "none", &tag, "/omni-launch"];
        all.extend_from_slice(args);
        docker(&all)
    };
    let version = alone(&["--version"]);
    assert!(version.starts_with("omni-launch "), "{version}");
    let listed = alone(&["list"]);
    assert!(
        listed.contains("blastn") && listed.contains("built-in"),
        "{listed}"
    );
    let rendered = alone(&["render", "echo_test", "--inputs", r#"{"text": "a b"}"#]);
    assert!(rendered.contains("printf '%s\\n' 'a b'"), "{rendered}");
    docker(&["rmi", &tag]);
}

/// The top-level Dockerfile's image runs a job from the contract
/// environment with its default command, as a Batch job would.
#[test]
#[ignore = "needs docker and the launcher image (. .ci/containers.sh); run with --run-ignored all"]
fn the_launcher_image_runs_a_job_from_its_environment() {
    let image = std::env::var("OMNI_TEST_LAUNCHER_IMAGE").unwrap_or_else(|_| {
        panic!("OMNI_TEST_LAUNCHER_IMAGE is not set: `. .ci/containers.sh` builds it")
    });
    let results = shared_dir();
    let ran = run_in_image(
        &image,
        &[
            ("TOOL_ID", "echo_test"),
            ("RUN_ID", "in-image"),
            ("INPUTS_JSON", r#"{"text": "from the image"}"#),
            ("RESULT_URI", "file:///results/run"),
        ],
        &[(results.path(), "/results")],
    );
    let stored: serde_json::Value =
        serde_json::from_str(&read(results.path().join("run/results.json"))).unwrap();
    assert_eq!(stored, ran.json());
    assert_eq!(stored["results"]["echo"], "from the image");
    assert_eq!(
        stored["spec"]["path"],
        "/opt/omni-launch/tool-specs/echo_test.yaml"
    );
    // Not root.
    let owner = std::fs::metadata(results.path().join("run/results.json")).unwrap();
    assert_eq!(owner.uid(), 1000);
    let listed = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "omni-launch",
            "list",
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for entry in std::fs::read_dir(root().join("tool-specs")).unwrap() {
        let name = entry.unwrap().path();
        let id = name.file_stem().unwrap().to_string_lossy();
        assert!(listed.contains(&*id), "{id} not listed:\n{listed}");
    }
}

/// `docker run` of an image with `omni-launch run` as its command, the
/// contract in its environment and `/results` mounted from `results`.
fn run_in_image(image: &str, env: &[(&str, &str)], mounts: &[(&Path, &str)]) -> Ran {
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", "none"]);
    for (source, target) in mounts {
        let mount = format!("type=bind,source={},target={target}", source.display());
        cmd.args(["--mount", &mount]);
    }
    for (name, value) in env {
        cmd.args(["--env", &format!("{name}={value}")]);
    }
    Ran::from_output(cmd.arg(image).output().unwrap(), 0, true)
}

/// A directory the image's user (1000) may write.
fn shared_dir() -> tempfile::TempDir {
    let dir = workdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    dir
}

/// The BLAST job image (examples/Dockerfile.blast on the launcher image)
/// builds a database and searches it, as two Batch jobs would.
#[test]
#[ignore = "needs docker and the launcher images (. .ci/containers.sh); run with --run-ignored all"]
fn the_blast_job_image_runs_makeblastdb_then_blastn() {
    let image = std::env::var("OMNI_TEST_LAUNCHER_BLAST_IMAGE").unwrap_or_else(|_| {
        panic!("OMNI_TEST_LAUNCHER_BLAST_IMAGE is not set: `. .ci/containers.sh` builds it")
    });
    let data = workdir();
    std::fs::write(data.path().join("subject.fa"), crate::blast::SUBJECT).unwrap();
    std::fs::write(data.path().join("query.fa"), crate::blast::QUERY).unwrap();
    let results = shared_dir();
    let mounts = [(data.path(), "/data"), (results.path(), "/results")];
    run_in_image(
        &image,
        &[
            ("TOOL_ID", "makeblastdb"),
            (
                "INPUTS_JSON",
                r#"{"sequences": "/data/subject.fa", "db_name": "subject"}"#,
            ),
            ("RESULT_URI", "file:///results/db"),
        ],
        &mounts,
    );
    let ran = run_in_image(
        &image,
        &[
            ("TOOL_ID", "blastn"),
            (
                "INPUTS_JSON",
                r#"{"query": "/data/query.fa", "db": "/results/db/outputs/db/db", "db_name": "subject", "evalue": 1e-5}"#,
            ),
            ("RESULT_URI", "file:///results/search"),
        ],
        &mounts,
    );
    assert_eq!(
        ran.json()["results"]["hits"]["location"],
        "file:///results/search/outputs/hits/hits.tsv"
    );
    let text = read(results.path().join("search/outputs/hits/hits.tsv"));
    let first: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
    assert_eq!(&first[..3], ["q1", "seq1", "100.000"]);
}
