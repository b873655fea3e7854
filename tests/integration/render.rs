//! `omni-launch render` and the quoting guarantee, end to end.

use crate::util::{launch, omni, run};

#[test]
fn render_prints_the_command_and_runs_nothing() {
    let ran = run(omni().args([
        "render",
        "tool-specs/blastn.yaml",
        "--inputs",
        r#"{"query": "Cargo.toml", "db": "s3://bucket/dbs/nt", "db_name": "nt", "max_target_seqs": 5}"#,
        "--resources",
        r#"{"cpu": 8}"#,
        "--workdir",
        "/scratch/run-1",
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    insta::assert_snapshot!(crate::util::redact(&ran.stdout, &[]));
}

#[test]
fn render_json_shows_argv() {
    let ran = run(omni().args([
        "render",
        "fixtures/specs/run/argv.yaml",
        "--format",
        "json",
        "--inputs",
        r#"{"text": "a b", "extra": ["-c", "$(id)"]}"#,
    ]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        doc["argv"],
        serde_json::json!(["printf", "%s|", "a b", "-c", "$(id)", "--x=a b"])
    );
}

const HOSTILE: &[&str] = &[
    "it's",
    "\"double\"",
    "back\\slash",
    "$(touch pwned)",
    "`touch pwned`",
    "; touch pwned",
    "a\nb\n",
    "*",
    "-n",
    "--help",
    "$HOME",
    "日本語 ünïcødé",
    "'",
    "",
    " leading and trailing ",
    "\t|&<>(){}[]!#~",
];

#[test]
fn hostile_values_come_back_exactly_in_shell_mode() {
    for value in HOSTILE {
        let inputs = serde_json::json!({ "s": value });
        let ran = launch(&[
            "--spec",
            "fixtures/specs/run/printf.yaml",
            "--inputs",
            &inputs.to_string(),
            "--keep-workdir",
        ]);
        assert_eq!(ran.code, 0, "{value:?}: {}", ran.stderr);
        assert_eq!(std::fs::read_to_string(ran.tool_stdout()).unwrap(), *value);
        assert!(!ran.workdir().join("pwned").exists());
    }
}

#[test]
fn hostile_values_come_back_exactly_in_argv_mode() {
    for value in HOSTILE {
        let inputs = serde_json::json!({ "text": value });
        let ran = launch(&[
            "--spec",
            "fixtures/specs/run/argv.yaml",
            "--inputs",
            &inputs.to_string(),
            "--keep-workdir",
        ]);
        assert_eq!(ran.code, 0, "{value:?}: {}", ran.stderr);
        assert_eq!(
            std::fs::read_to_string(ran.tool_stdout()).unwrap(),
            format!("{value}|--x={value}|")
        );
    }
}

#[test]
fn nul_is_refused_as_invalid_input() {
    let ran = run(omni().args([
        "render",
        "fixtures/specs/run/printf.yaml",
        "--inputs",
        r#"{"s": "a\u0000b"}"#,
    ]));
    assert_eq!(ran.code, 65);
}
