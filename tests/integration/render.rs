//! `omni-launch render` and the quoting guarantee, end to end.

use crate::util::Test;

#[test]
fn render_prints_the_command_and_runs_nothing() {
    let ran = Test::new(&[
        "render",
        "tool-specs/blastn.yaml",
        "--inputs",
        r#"{"query": "Cargo.toml", "db": "s3://bucket/dbs/nt", "db_name": "nt", "max_target_seqs": 5}"#,
        "--resources",
        r#"{"cpu": 8}"#,
        "--workdir",
        "/scratch/run-1",
    ])
    .go();
    insta::assert_snapshot!(crate::util::redact(&ran.stdout, &[]));
}

#[test]
fn render_json_shows_argv() {
    let ran = Test::new(&[
        "render",
        "fixtures/specs/run/argv.yaml",
        "--format",
        "json",
        "--inputs",
        r#"{"text": "a b", "extra": ["-c", "$(id)"]}"#,
    ])
    .go();
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
        let ran = Test::run(&[
            "--spec",
            "fixtures/specs/run/printf.yaml",
            "--inputs",
            &inputs.to_string(),
            "--keep-workdir",
        ])
        .go();
        assert_eq!(std::fs::read_to_string(ran.tool_stdout()).unwrap(), *value);
        assert!(!ran.workdir().join("pwned").exists());
    }
}

#[test]
fn hostile_values_come_back_exactly_in_argv_mode() {
    for value in HOSTILE {
        let inputs = serde_json::json!({ "text": value });
        let ran = Test::run(&[
            "--spec",
            "fixtures/specs/run/argv.yaml",
            "--inputs",
            &inputs.to_string(),
            "--keep-workdir",
        ])
        .go();
        assert_eq!(
            std::fs::read_to_string(ran.tool_stdout()).unwrap(),
            format!("{value}|--x={value}|")
        );
    }
}

#[test]
fn nul_is_refused_as_invalid_input() {
    Test::new(&[
        "render",
        "fixtures/specs/run/printf.yaml",
        "--inputs",
        r#"{"s": "a\u0000b"}"#,
    ])
    .code(65)
    .go();
}
