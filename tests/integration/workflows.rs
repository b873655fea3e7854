//! Beyond one machine: `export snakemake` rules run by the real Snakemake
//! (local executor, and the Slurm executor), and examples/slurm's job array
//! on a real one-node Slurm cluster (. .ci/slurm.sh starts one on
//! 127.0.0.1). Reported as skipped by a plain `cargo nextest run`; run
//! with `--run-ignored all`, they fail when Snakemake or Slurm is missing,
//! never pass without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{BIN, Test, root, workdir};

/// The snakemake program: $OMNI_TEST_SNAKEMAKE, else one on PATH.
fn snakemake() -> PathBuf {
    std::env::var_os("OMNI_TEST_SNAKEMAKE")
        .map(PathBuf::from)
        .or_else(|| which::which("snakemake").ok())
        .expect("Snakemake is needed: `. .ci/slurm.sh` installs it and sets OMNI_TEST_SNAKEMAKE")
}

/// Fails unless the test cluster answers.
fn require_slurm() {
    let up = std::env::var("OMNI_TEST_SLURM").is_ok()
        && Command::new("sinfo")
            .arg("--noheader")
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        up,
        "a Slurm cluster is needed: `. .ci/slurm.sh` starts one (as root) and sets OMNI_TEST_SLURM"
    );
}

/// PATH with the binary under test first.
fn path_with_binary() -> String {
    let dir = Path::new(BIN).parent().unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn json(path: impl AsRef<Path>) -> Value {
    let path = path.as_ref();
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn shown(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The example workflow in a fresh directory: its Snakefile, data, and
/// rules exported from the repository's specs (by absolute path).
fn example(dir: &Path) {
    let example = root().join("examples/snakemake");
    std::fs::copy(example.join("Snakefile"), dir.join("Snakefile")).unwrap();
    std::fs::create_dir_all(dir.join("data/queries")).unwrap();
    std::fs::copy(example.join("data/subject.fa"), dir.join("data/subject.fa")).unwrap();
    for query in ["q1", "q2", "q3"] {
        let name = format!("data/queries/{query}.fa");
        std::fs::copy(example.join(&name), dir.join(&name)).unwrap();
    }
    let specs: Vec<String> = ["makeblastdb", "blastn", "echo_test"]
        .iter()
        .map(|id| {
            root()
                .join(format!("tool-specs/{id}.yaml"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["export", "snakemake"];
    args.extend(specs.iter().map(String::as_str));
    let rules = Test::new(&args).go();
    std::fs::write(dir.join("rules.smk"), rules.stdout).unwrap();
}

/// snakemake in `dir`, with the binary under test on PATH.
fn snakemake_in(program: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env("PATH", path_with_binary())
        .args(args);
    cmd
}

/// Runs snakemake in `dir` with the binary under test on PATH.
fn run_snakemake(program: &Path, dir: &Path, args: &[&str]) -> Output {
    snakemake_in(program, dir, args).output().unwrap()
}

/// Snakemake's Slurm executor on the test cluster, which keeps no
/// accounting: job states come from squeue.
const ON_SLURM: &[&str] = &[
    "--executor",
    "slurm",
    "--jobs",
    "4",
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "1",
];

/// A tool that says `started` on stderr, then sleeps.
const SLEEPER: &str = "id: sleeper\ninputs:\n  secs: {type: int}\n\
                       command: echo started >&2; sleep {{ secs }}\noutputs: {}\n";

/// What the example leaves: every results.json a success, the hits of
/// each query where its job stored them, the echo's text.
fn check_example(dir: &Path) -> Value {
    let results = dir.join("results");
    let db = json(results.join("makeblastdb/subject/results.json"));
    assert_eq!(db["ok"], true, "{db}");
    assert!(
        results
            .join("makeblastdb/subject/outputs/db/db/subject.nsq")
            .is_file()
    );
    for (query, subject) in [("q1", "seq1"), ("q2", "seq2"), ("q3", "seq1")] {
        let run = json(results.join(format!("blastn/{query}/results.json")));
        assert_eq!(run["ok"], true, "{run}");
        let hits = results.join(format!("blastn/{query}/outputs/hits/hits.tsv"));
        assert_eq!(
            run["results"]["hits"]["location"],
            format!("file://{}", hits.display())
        );
        let text = std::fs::read_to_string(&hits).unwrap();
        let first: Vec<&str> = text.lines().next().unwrap().split('\t').collect();
        assert_eq!(&first[..2], &[query, subject], "{query}: {text}");
        assert_eq!(run["inputs"]["evalue"], 1e-5);
        assert_eq!(
            run["inputs"]["db"]["path"],
            results
                .join("makeblastdb/subject/outputs/db/db")
                .display()
                .to_string()
        );
    }
    let echo = json(results.join("echo_test/hello/results.json"));
    assert_eq!(echo["results"]["echo"], "hello from Snakemake");
    echo
}

#[test]
fn the_committed_example_rules_are_what_export_writes() {
    let dir = root().join("examples/snakemake");
    let ran = Test::new(&[
        "export",
        "snakemake",
        "../../tool-specs/makeblastdb.yaml",
        "../../tool-specs/blastn.yaml",
        "../../tool-specs/echo_test.yaml",
    ])
    .current_dir(&dir)
    .go();
    let committed = std::fs::read_to_string(dir.join("rules.smk")).unwrap();
    assert!(
        ran.stdout == committed,
        "examples/snakemake/rules.smk is stale: regenerate it as its Snakefile says"
    );
}

#[test]
#[ignore = "needs Snakemake and ncbi-blast+ (. .ci/slurm.sh); run with --run-ignored all"]
fn snakemake_runs_makeblastdb_once_and_blastn_for_every_query() {
    let snakemake = snakemake();
    let dir = workdir();
    example(dir.path());
    let output = run_snakemake(&snakemake, dir.path(), &["--cores", "2"]);
    assert!(output.status.success(), "{}", shown(&output));
    check_example(dir.path());
    // Each job left its inputs document beside its results.json.
    let inputs = json(dir.path().join("results/blastn/q2/inputs.json"));
    assert_eq!(inputs["query"], "data/queries/q2.fa");
    // Done is done: nothing runs again.
    let again = run_snakemake(&snakemake, dir.path(), &["--cores", "2"]);
    assert!(again.status.success(), "{}", shown(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("Nothing to be done"),
        "{}",
        shown(&again)
    );
}

#[test]
#[ignore = "needs Snakemake (. .ci/slurm.sh); run with --run-ignored all"]
fn a_failing_job_fails_its_snakemake_job_and_keeps_its_results_json() {
    let snakemake = snakemake();
    let dir = workdir();
    example(dir.path());
    // One good echo, one with an input the spec does not know.
    let snakefile = dir.path().join("Snakefile");
    let text = std::fs::read_to_string(&snakefile).unwrap().replace(
        r#""hello": {"text": "hello from Snakemake"},"#,
        r#""hello": {"text": "hello from Snakemake"}, "typo": {"txt": "x"},"#,
    );
    std::fs::write(&snakefile, text).unwrap();
    let output = run_snakemake(
        &snakemake,
        dir.path(),
        &[
            "--cores",
            "1",
            "--keep-going",
            "results/echo_test/hello/results.json",
            "results/echo_test/typo/results.json",
        ],
    );
    assert!(!output.status.success(), "{}", shown(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("echo_test job typo failed: omni-launch exit status 65, invalid_inputs"),
        "{}",
        shown(&output)
    );
    assert!(
        stderr.contains("inputs.txt: unknown input `txt`"),
        "{stderr}"
    );
    let failed = json(dir.path().join("results/echo_test/typo/results.json"));
    assert_eq!(failed["error"]["kind"], "invalid_inputs");
    assert_eq!(failed["exit_code"], 65);
    // The job did not count as done: its output is not there.
    assert!(
        !dir.path()
            .join("results/echo_test/typo/logs/stdout")
            .exists()
    );
    let good = json(dir.path().join("results/echo_test/hello/results.json"));
    assert_eq!(good["ok"], true);
}

#[test]
#[ignore = "needs Snakemake, ncbi-blast+ and Slurm (. .ci/slurm.sh); run with --run-ignored all"]
fn the_example_runs_on_slurm_through_snakemakes_executor() {
    let snakemake = snakemake();
    require_slurm();
    let dir = workdir();
    example(dir.path());
    let output = run_snakemake(&snakemake, dir.path(), ON_SLURM);
    assert!(output.status.success(), "{}", shown(&output));
    let echo = check_example(dir.path());
    assert_eq!(echo["launcher"]["job"]["system"], "slurm", "{echo}");
    assert!(echo["launcher"]["job"]["job_id"].is_string(), "{echo}");
}

/// `sbatch` of examples/slurm/array.sbatch from `dir`; the array job id.
fn sbatch_array(dir: &Path, tasks: &str, args: &[&str]) -> String {
    let output = Command::new("sbatch")
        .current_dir(dir)
        .env("PATH", path_with_binary())
        .args(["--parsable", &format!("--array={tasks}")])
        .arg(root().join("examples/slurm/array.sbatch"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", shown(&output));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Waits until no task of `job` is queued or running.
fn wait_gone(job: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let output = Command::new("squeue")
            .args(["--noheader", "--jobs", job])
            .output()
            .unwrap();
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still queued: {}",
            shown(&output)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The exit code Slurm recorded for one array task.
fn task_exit_code(job: &str, task: u32) -> String {
    let output = Command::new("scontrol")
        .args(["show", "job", &format!("{job}_{task}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|field| field.strip_prefix("ExitCode="))
        .unwrap_or_else(|| panic!("no ExitCode for {job}_{task}: {text}"))
        .to_string()
}

#[test]
#[ignore = "needs Slurm (. .ci/slurm.sh); run with --run-ignored all"]
fn an_sbatch_array_runs_one_job_per_line_of_inputs() {
    require_slurm();
    let dir = workdir();
    std::fs::write(
        dir.path().join("jobs.jsonl"),
        "{\"text\": \"one\"}\n{\"text\": \"two words\"}\n{\"txt\": \"typo\"}\n",
    )
    .unwrap();
    let job = sbatch_array(dir.path(), "1-3", &["echo_test", "jobs.jsonl", "results"]);
    wait_gone(&job, 60);
    let results = dir.path().join("results");
    for (task, text) in [(1, "one"), (2, "two words")] {
        let run = json(results.join(format!("{task}/results.json")));
        assert_eq!(run["results"]["echo"], text, "{run}");
        assert_eq!(run["run_id"], format!("{job}_{task}"));
        assert_eq!(run["launcher"]["job"]["system"], "slurm");
        assert_eq!(run["launcher"]["job"]["array_index"], task);
        assert_eq!(task_exit_code(&job, task), "0:0");
    }
    let bad = json(results.join("3/results.json"));
    assert_eq!(bad["error"]["kind"], "invalid_inputs", "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("jobs.jsonl line 3")
            || bad["error"]["message"]
                .as_str()
                .unwrap()
                .contains("inputs.txt"),
        "{bad}"
    );
    assert_eq!(task_exit_code(&job, 3), "65:0");

    // The same array again runs only what did not succeed.
    let again = sbatch_array(dir.path(), "1-3", &["echo_test", "jobs.jsonl", "results"]);
    wait_gone(&again, 60);
    let first = json(results.join("1/results.json"));
    assert_eq!(first["run_id"], format!("{job}_1"), "task 1 ran again");
    let log = std::fs::read_to_string(dir.path().join(format!("slurm-{again}_1.out"))).unwrap();
    assert!(log.contains("already succeeded"), "{log}");
    let third = json(results.join("3/results.json"));
    assert_eq!(third["run_id"], format!("{again}_3"), "task 3 ran again");
}

#[test]
#[ignore = "needs Slurm (. .ci/slurm.sh); run with --run-ignored all"]
fn scancel_reaches_the_tool_and_results_json_says_signalled() {
    require_slurm();
    let dir = workdir();
    std::fs::write(dir.path().join("sleeper.yaml"), SLEEPER).unwrap();
    std::fs::write(dir.path().join("jobs.jsonl"), "{\"secs\": 300}\n").unwrap();
    let job = sbatch_array(dir.path(), "1", &["sleeper.yaml", "jobs.jsonl", "results"]);
    let log = dir.path().join(format!("slurm-{job}_1.out"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started")) {
        assert!(Instant::now() < deadline, "the tool never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cancel = Command::new("scancel").arg(&job).output().unwrap();
    assert!(cancel.status.success(), "{}", shown(&cancel));
    wait_gone(&job, 60);
    let run = json(dir.path().join("results/1/results.json"));
    assert_eq!(run["error"]["kind"], "signalled", "{run}");
    assert_eq!(run["exit_code"], 143);
    assert!(run["logs"]["stderr"].is_string(), "{run}");
    assert_eq!(task_exit_code(&job, 1), "143:0");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("results stored at"), "{said}");
}

/// The rule for a spec with every kind of input and output, under names
/// Python and Snakemake keep (the helpers before it are the same in every
/// file).
#[test]
fn export_maps_every_kind_of_input_and_output_to_a_rule() {
    let ran = Test::new(&["export", "snakemake", "fixtures/specs/export/names.yaml"]).go();
    let rule = &ran.stdout[ran.stdout.find("\n# name-check").unwrap()..];
    insta::assert_snapshot!(rule);
}

#[test]
fn export_refuses_two_specs_that_would_be_one_rule() {
    let dir = workdir();
    for (file, id) in [("a.yaml", "seq-stats"), ("b.yaml", "seq_stats")] {
        std::fs::write(
            dir.path().join(file),
            format!("id: {id}\ncommand: \"true\"\noutputs: {{}}\n"),
        )
        .unwrap();
    }
    let ran = Test::new(&["export", "snakemake", "a.yaml", "b.yaml"])
        .current_dir(dir.path())
        .code(64)
        .go();
    assert!(
        ran.stderr
            .contains("b.yaml and a.yaml would both be the rule `seq_stats`"),
        "{}",
        ran.stderr
    );
}

#[test]
#[ignore = "needs Snakemake (. .ci/slurm.sh); run with --run-ignored all"]
fn kept_names_secrets_and_every_output_kind_run_through_snakemake() {
    let snakemake = snakemake();
    let dir = workdir();
    let spec = root().join("fixtures/specs/export/names.yaml");
    let rules = Test::new(&["export", "snakemake", spec.to_str().unwrap()]).go();
    std::fs::write(dir.path().join("rules.smk"), rules.stdout).unwrap();
    for (file, text) in [("a.tsv", "a\n"), ("b.tsv", "b\n"), ("c d.tsv", "c\n")] {
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    std::fs::write(
        dir.path().join("Snakefile"),
        r#"include: "rules.smk"
OMNI_JOBS["name-check"] = {
    "j": {"from": "a.tsv", "keys": ["b.tsv", "c d.tsv"], "lambda": "y", "token": "s3cret-value"},
}
rule all:
    input: "results/name-check/j/results.json"
"#,
    )
    .unwrap();
    let output = run_snakemake(&snakemake, dir.path(), &["--cores", "2"]);
    assert!(output.status.success(), "{}", shown(&output));
    let job = dir.path().join("results/name-check/j");
    let run = json(job.join("results.json"));
    assert_eq!(run["ok"], true, "{run}");
    assert_eq!(run["results"]["count"], 3);
    assert_eq!(run["inputs"]["token"], "***");
    assert_eq!(run["inputs"]["keys"][1]["basename"], "c d.tsv");
    // Snakemake's threads reached the tool's resources as the spec's cpu.
    assert_eq!(run["resources"]["cpu"], 1.5);
    assert_eq!(
        std::fs::read_to_string(job.join("outputs/table/all.tsv")).unwrap(),
        "a\nb\nc\n"
    );
    assert!(job.join("outputs/parts/a").is_file());
    assert!(job.join("outputs/bundle/bundle/c").is_file());
    // A secret never went through params, nor into a file Snakemake keeps.
    assert!(!job.join("inputs.json").exists());
    let mut pending = vec![dir.path().join(".snakemake")];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("s3cret-value"),
                "{} holds the secret",
                path.display()
            );
        }
    }
    // --set-threads reaches the tool as its cpu.
    let output = run_snakemake(
        &snakemake,
        dir.path(),
        &[
            "--cores",
            "4",
            "--set-threads",
            "name_check=3",
            "--forceall",
        ],
    );
    assert!(output.status.success(), "{}", shown(&output));
    let run = json(job.join("results.json"));
    assert_eq!(run["resources"]["cpu"], 3, "{run}");
}

/// scancel of a job that Snakemake's Slurm executor submitted: the tool
/// gets SIGTERM, results.json says `signalled` (Snakemake keeps it as the
/// job's log, and had created it empty before the launcher stored it).
#[test]
#[ignore = "needs Snakemake and Slurm (. .ci/slurm.sh); run with --run-ignored all"]
fn scancel_through_snakemakes_slurm_executor_leaves_results_json_signalled() {
    let snakemake = snakemake();
    require_slurm();
    let dir = workdir();
    std::fs::write(dir.path().join("sleeper.yaml"), SLEEPER).unwrap();
    let rules = Test::new(&["export", "snakemake", "sleeper.yaml"])
        .current_dir(dir.path())
        .go();
    std::fs::write(dir.path().join("rules.smk"), rules.stdout).unwrap();
    std::fs::write(
        dir.path().join("Snakefile"),
        "include: \"rules.smk\"\nOMNI_JOBS[\"sleeper\"] = {\"long\": {\"secs\": 300}}\n\
         rule all:\n    input: \"results/sleeper/long/results.json\"\n",
    )
    .unwrap();
    let workflow = snakemake_in(&snakemake, dir.path(), ON_SLURM)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The job's Slurm log says when the tool has started.
    let logs = dir.path().join(".snakemake/slurm_logs/rule_sleeper/long");
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let started = std::fs::read_dir(&logs).ok().and_then(|entries| {
            entries.filter_map(Result::ok).find_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                text.contains("started")
                    .then(|| e.path().file_stem()?.to_str().map(str::to_string))?
            })
        });
        if let Some(job) = started {
            break job;
        }
        assert!(Instant::now() < deadline, "the tool never started");
        std::thread::sleep(Duration::from_millis(200));
    };
    let cancel = Command::new("scancel").arg(&job).output().unwrap();
    assert!(cancel.status.success(), "{}", shown(&cancel));
    let output = workflow.wait_with_output().unwrap();
    assert!(!output.status.success(), "{}", shown(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CANCELLED"), "{}", shown(&output));
    // The launcher stores within its grace period after the signal.
    let path = dir.path().join("results/sleeper/long/results.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = loop {
        if let Ok(run) =
            serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap_or_default())
        {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "no results.json at {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(run["error"]["kind"], "signalled", "{run}");
    assert_eq!(run["exit_code"], 143);
    assert_eq!(run["launcher"]["job"]["system"], "slurm");
}

/// A built-in spec is named by its id: no spec file to depend on, and a
/// rule without file inputs has no `input:` section at all.
#[test]
fn a_built_in_spec_exports_by_id() {
    let dir = workdir();
    let ran = Test::new(&["export", "snakemake", "echo_test"])
        .current_dir(dir.path())
        .go();
    let rule = &ran.stdout[ran.stdout.find("\nrule echo_test:").unwrap()..];
    assert!(rule.contains(r#"["echo_test"],"#), "{rule}");
    assert!(!rule.contains("    input:"), "{rule}");
    assert!(
        ran.stdout
            .contains("# echo_test 1.0.0 (built into omni-launch)")
    );
}
