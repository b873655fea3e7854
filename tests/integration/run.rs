//! `omni-launch run`: the contract, results.json and each exit code.

use serde_json::json;

use crate::util::{Test, redact, workdir};

/// The README's main-job command, unchanged.
#[test]
fn the_contract_example_works() {
    let base = workdir();
    let ran = Test::new(&["run"])
        .env("TOOL_ID", "echo_test")
        .env("RUN_ID", "local-test-1")
        .env("INPUTS_JSON", r#"{"text":"hello world"}"#)
        .env("RESOURCES_JSON", "{}")
        .env("TMPDIR", base.path())
        .stdout_has("\"ok\": true")
        .stderr_has("hello world")
        .go();
    let doc = ran.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["tool_id"], "echo_test");
    assert_eq!(doc["run_id"], "local-test-1");
    assert_eq!(doc["results"], json!({"echo": "hello world"}));
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["error"], serde_json::Value::Null);
    assert_eq!(doc["command"], "printf '%s\\n' 'hello world'");
    assert_eq!(doc["resources"], json!({"cpu": 1}));
    assert_eq!(doc["launcher"]["name"], "omni-launch");
    assert_eq!(doc["spec"]["id"], "echo_test");
    assert_eq!(doc["spec"]["sha256"].as_str().map(str::len), Some(64));
    // Written in the work directory too, identical to stdout.
    let workdir = doc["workdir"].as_str().unwrap();
    assert!(workdir.starts_with(&base.path().canonicalize().unwrap().display().to_string()));
    let written = std::fs::read_to_string(format!("{workdir}/.omni-launch/results.json")).unwrap();
    assert_eq!(written, ran.stdout);
    // The tool's output went to stderr, never stdout.
    assert!(ran.stderr.contains("hello world"));
}

#[test]
fn flags_override_the_environment() {
    let ran = Test::run(&["--run-id", "from-flag", "--inputs", r#"{"text":"flag"}"#])
        .env("TOOL_ID", "echo_test")
        .env("RUN_ID", "from-env")
        .env("INPUTS_JSON", r#"{"text":"env"}"#)
        .go();
    let doc = ran.json();
    assert_eq!(doc["run_id"], "from-flag");
    assert_eq!(doc["results"]["echo"], "flag");
}

#[test]
fn a_run_id_is_generated_when_absent() {
    let ran = Test::run(&[
        "--spec",
        "tool-specs/echo_test.yaml",
        "--inputs",
        r#"{"text":"x"}"#,
    ])
    .go();
    let id = ran.json()["run_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("run-"), "{id}");
}

#[test]
fn specs_dir_from_the_environment() {
    let ran = Test::run(&[])
        .env("OMNI_TOOL_SPECS", "fixtures/specs/run")
        .env("TOOL_ID", "exit_code")
        .env("INPUTS_JSON", r#"{"code": 0}"#)
        .go();
    assert_eq!(ran.json()["results"]["out"], "to stdout");
}

#[test]
fn the_tools_own_exit_code_passes_through() {
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/exit_code.yaml",
        "--inputs",
        r#"{"code": 3}"#,
    ])
    .code(3)
    .go();
    let doc = ran.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["error"]["kind"], "tool_failed");
    // The message ends with the tool's last words and where all of them are.
    let message = doc["error"]["message"].as_str().unwrap();
    let kept = format!("{}/.omni-launch/stderr", doc["workdir"].as_str().unwrap());
    assert_eq!(
        message,
        format!(
            "the tool exited with status 3; its stderr ended with: to stderr (all of it: {kept})"
        )
    );
    assert_eq!(doc["results"], json!({}));
    assert!(ran.stderr.contains("to stderr"));
}

/// Arguments, environment, expected exit code and error kind.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);

#[test]
fn each_failure_has_its_exit_code() {
    let cases: &[Case] = &[
        (
            &[
                "--spec",
                "tool-specs/echo_test.yaml",
                "--inputs",
                r#"{"txt": "x"}"#,
            ],
            &[],
            65,
            "invalid_inputs",
        ),
        (
            &[
                "--spec",
                "tool-specs/echo_test.yaml",
                "--inputs",
                "{bad json",
            ],
            &[],
            65,
            "invalid_inputs",
        ),
        (
            &[
                "--spec",
                "tool-specs/echo_test.yaml",
                "--inputs",
                r#"{"text": "x"}"#,
                "--resources",
                r#"{"cpus": 2}"#,
            ],
            &[],
            65,
            "invalid_inputs",
        ),
        (
            &[
                "--spec",
                "fixtures/specs/run/files_in.yaml",
                "--inputs",
                r#"{"bam": "missing.bam"}"#,
            ],
            &[],
            66,
            "input_missing",
        ),
        (
            &["--spec", "fixtures/specs/invalid/undeclared_name.yaml"],
            &[],
            78,
            "invalid_spec",
        ),
        (
            &["--spec", "tool-specs/echo_test.yaml"],
            &[("TOOL_ID", "blastn")],
            64,
            "usage",
        ),
        (
            &["--spec", "fixtures/specs/run/not_found.yaml"],
            &[],
            127,
            "not_found",
        ),
        (
            &["--spec", "fixtures/specs/run/not_found_shell.yaml"],
            &[],
            127,
            "not_found",
        ),
        (
            &["--spec", "fixtures/specs/run/not_executable.yaml"],
            &[],
            126,
            "not_executable",
        ),
        (
            &["--spec", "fixtures/specs/run/self_kill.yaml"],
            &[],
            137,
            "signalled",
        ),
        (
            &["--spec", "fixtures/specs/run/missing_output.yaml"],
            &[],
            70,
            "output_missing",
        ),
        (
            &["--spec", "fixtures/specs/run/leak.yaml"],
            &[],
            70,
            "output_missing",
        ),
    ];
    for (args, env, code, kind) in cases {
        let ran = Test::run(args).envs(env).code(*code).go();
        let doc = ran.json();
        assert_eq!(doc["error"]["kind"], *kind, "{args:?}: {}", doc["error"]);
    }
}

#[test]
fn contract_errors_before_a_run_exit_64_without_results() {
    for (env, args) in [
        (vec![], vec!["run"]),
        (vec![("TOOL_ID", "Not Valid")], vec!["run"]),
        (
            vec![
                ("TOOL_ID", "echo_test"),
                ("S3_RESULT_URI", "s3://a/x/"),
                ("RESULT_URI", "s3://a/y/"),
            ],
            vec!["run"],
        ),
        (
            vec![("TOOL_ID", "echo_test"), ("RESULT_URI", "gs://bucket/x/")],
            vec!["run"],
        ),
        (
            vec![("TOOL_ID", "echo_test"), ("RUN_ID", "../../etc")],
            vec!["run"],
        ),
        (
            vec![],
            vec![
                "run",
                "--runner",
                "k8s",
                "--spec",
                "tool-specs/echo_test.yaml",
                "--inputs",
                "{\"text\": \"x\"}",
            ],
        ),
    ] {
        let ran = Test::new(&args).envs(&env).code(64).no_results().go();
        assert!(ran.stdout.is_empty(), "{env:?} {args:?}: {}", ran.stdout);
    }
}

#[test]
fn usage_messages() {
    let ran = Test::new(&["run"])
        .env("TOOL_ID", "echo_test")
        .env("S3_RESULT_URI", "s3://a/x/")
        .env("RESULT_URI", "s3://a/y/")
        .code(64)
        .no_results()
        .go();
    let ran2 = Test::run(&[]).env("TOOL_ID", "no_such_tool").code(64).go();
    let errors: String = format!("{}{}", ran.stderr, redact(&ran2.stderr, &[]))
        .lines()
        .filter(|l| l.contains("error:"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(errors);
}

#[test]
fn invalid_inputs_name_every_field() {
    let ran = Test::run(&["--spec", "tool-specs/blastn.yaml", "--inputs", r#"{"query": "nope.fa", "db": "src", "db_name": "x y", "evalue": "1e-5", "outfmt": 6, "max_target_seqs": 0}"#])
        .code(65)
        .go();
    insta::assert_snapshot!(redact(&ran.message(), &[]));
}

#[test]
fn results_go_to_a_file_uri() {
    let store = workdir();
    let uri = format!("file://{}/runs/r-1/", store.path().display());
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/outputs.yaml",
        "--run-id",
        "r-1",
        "--result-uri",
        &uri,
    ])
    .go();
    let doc = ran.json();
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("runs/r-1/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored, doc);
    let one = &doc["results"]["one"];
    assert_eq!(one["location"], format!("{uri}outputs/one/one.txt"));
    assert_eq!(
        std::fs::read_to_string(store.path().join("runs/r-1/outputs/one/one.txt")).unwrap(),
        "a\n"
    );
    assert_eq!(
        doc["results"]["many"][1]["location"],
        format!("{uri}outputs/many/b.txt")
    );
    // A stored run removes its temporary work directory.
    assert!(!std::path::Path::new(doc["workdir"].as_str().unwrap()).exists());
}

#[test]
fn a_json_result_uri_names_the_results_object() {
    let store = workdir();
    let uri = format!("file://{}/out/summary.json", store.path().display());
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/outputs.yaml",
        "--result-uri",
        &uri,
        "--keep-workdir",
    ])
    .go();
    assert!(store.path().join("out/summary.json").is_file());
    assert!(store.path().join("out/outputs/one/one.txt").is_file());
    assert!(!store.path().join("out/summary.json/results.json").exists());
    assert!(std::path::Path::new(ran.json()["workdir"].as_str().unwrap()).exists());
}

#[test]
fn a_failed_run_is_stored_too() {
    let store = workdir();
    let uri = format!("file://{}/r/", store.path().display());
    Test::run(&[
        "--spec",
        "fixtures/specs/run/exit_code.yaml",
        "--inputs",
        r#"{"code": 9}"#,
        "--result-uri",
        &uri,
    ])
    .code(9)
    .go();
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("r/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored["ok"], false);
    assert_eq!(stored["error"]["kind"], "tool_failed");
}

#[test]
fn env_templates_reach_the_tool() {
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/env.yaml",
        "--run-id",
        "env-1",
        "--inputs",
        r#"{"greeting": "hi $(x)"}"#,
        "--resources",
        r#"{"cpu": 4}"#,
    ])
    .go();
    assert_eq!(ran.json()["results"]["out"], "hi $(x), env/4/env-1");
}

#[test]
fn a_rerun_with_the_same_id_gets_its_own_directory() {
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let ran = Test::run(&[
            "--spec",
            "tool-specs/echo_test.yaml",
            "--run-id",
            "same",
            "--inputs",
            r#"{"text": "x"}"#,
        ])
        .go();
        dirs.push(ran.json()["workdir"].as_str().unwrap().to_string());
    }
    assert_ne!(dirs[0], dirs[1]);
}

#[test]
fn inputs_from_stdin_and_from_a_file() {
    let ran = Test::run(&["echo_test", "--inputs", "-"])
        .stdin(r#"{"text": "from stdin"}"#)
        .go();
    assert_eq!(ran.json()["results"]["echo"], "from stdin");
    let base = workdir();
    let file = base.path().join("inputs.json");
    std::fs::write(&file, r#"{"text": "from a file"}"#).unwrap();
    let at = format!("@{}", file.display());
    let ran = Test::run(&["echo_test", "--inputs", &at]).go();
    assert_eq!(ran.json()["results"]["echo"], "from a file");
}

/// The whole document, every field, for a run with every kind of input and
/// output stored to a `file://` prefix; what changes from run to run is
/// redacted.
#[test]
fn a_whole_results_json() {
    let data = workdir();
    let store = workdir();
    std::fs::write(data.path().join("x.bam"), "bam").unwrap();
    std::fs::write(data.path().join("x.bam.bai"), "bai").unwrap();
    let inputs = json!({"bam": data.path().join("x.bam")}).to_string();
    let uri = format!("file://{}/r/", store.path().display());
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/whole.yaml",
        "--run-id",
        "whole-1",
        "--inputs",
        &inputs,
        "--resources",
        r#"{"cpu": 2, "memory_mb": 512}"#,
        "--result-uri",
        &uri,
    ])
    .go();
    let workdir = ran.workdir().display().to_string();
    let text = redact(&ran.stdout, &[data.path(), store.path()]).replace(&workdir, "[WORKDIR]");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!(doc, {
        ".started_at" => "[time]",
        ".finished_at" => "[time]",
        ".duration_s" => "[duration]",
        ".usage.max_rss_kb" => "[usage]",
        ".usage.user_s" => "[usage]",
        ".usage.sys_s" => "[usage]",
        ".launcher.version" => "[version]",
        ".launcher.host" => "[host]",
        ".inputs_digest" => "[digest]",
        ".spec.sha256" => "[sha256]",
    });
}

/// The README's main-job command works from any directory: the bundled
/// specs are built in, and a spec file on disk still wins.
#[test]
fn built_in_specs_run_from_any_directory() {
    let empty = workdir();
    let ran = Test::run(&[])
        .current_dir(empty.path())
        .env("TOOL_ID", "echo_test")
        .env("RUN_ID", "x")
        .env("INPUTS_JSON", r#"{"text":"hi"}"#)
        .go();
    let doc = ran.json();
    assert_eq!(doc["results"]["echo"], "hi");
    assert_eq!(doc["spec"]["path"], "builtin:echo_test");
    // A file of the same id in the specs directory wins.
    let specs = workdir();
    std::fs::write(
        specs.path().join("echo_test.yaml"),
        "id: echo_test\ninputs: {text: string}\ncommand: printf 'local %s' {{ text }}\noutputs: {echo: {type: string, from: stdout}}\n",
    )
    .unwrap();
    let ran = Test::run(&["echo_test", "--inputs", r#"{"text":"hi"}"#])
        .env("OMNI_TOOL_SPECS", specs.path())
        .go();
    assert_eq!(ran.json()["results"]["echo"], "local hi");
    // An unknown tool names the tools there are, with a guess.
    Test::run(&["echo_tst"])
        .current_dir(empty.path())
        .code(64)
        .stderr_has("did you mean `echo_test`?")
        .go();
}
