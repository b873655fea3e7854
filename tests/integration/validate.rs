//! `omni-launch validate`: every check has a fixture and a snapshot of its
//! exact message.

use crate::util::{Test, redact};

#[test]
fn bundled_specs_are_valid() {
    let mut specs: Vec<String> = std::fs::read_dir(crate::util::root().join("tool-specs"))
        .unwrap()
        .map(|e| format!("tool-specs/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    specs.sort();
    let args: Vec<&str> = specs.iter().map(String::as_str).collect();
    let ran = Test::new(&[&["validate"], args.as_slice()].concat()).go();
    assert_eq!(
        ran.stdout,
        format!(
            "{n} specs checked: {n} valid, 0 invalid; 0 problems\n",
            n = specs.len()
        )
    );
}

#[test]
fn every_invalid_fixture_fails_with_its_message() {
    insta::glob!("../../fixtures/specs/invalid", "*.yaml", |path| {
        let mut test = Test::new(&["validate"]).arg(path).code(78);
        if path.ends_with("missing_binary.yaml") {
            test = test.arg("--check-binaries");
        }
        let ran = test.go();
        insta::assert_snapshot!(redact(&ran.stdout, &[]));
    });
}

#[test]
fn problems_of_all_files_are_reported_together() {
    let ran = Test::new(&[
        "validate",
        "fixtures/specs/invalid/bad_id.yaml",
        "tool-specs/echo_test.yaml",
        "fixtures/specs/invalid/unknown_keys.yaml",
    ])
    .code(78)
    .go();
    insta::assert_snapshot!(ran.stdout);
}

#[test]
fn github_format_annotates_lines() {
    let ran = Test::new(&[
        "validate",
        "--format",
        "github",
        "fixtures/specs/invalid/undeclared_name.yaml",
    ])
    .code(78)
    .go();
    insta::assert_snapshot!(ran.stdout);
}

#[test]
fn json_format_is_machine_readable() {
    let ran = Test::new(&[
        "validate",
        "--format",
        "json",
        "fixtures/specs/invalid/many_problems.yaml",
        "tool-specs/echo_test.yaml",
    ])
    .code(78)
    .go();
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["files"][1]["valid"], true);
    assert_eq!(doc["files"][1]["id"], "echo_test");
    let problems = doc["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 7);
    assert_eq!(problems[0]["line"], 1);
    assert_eq!(problems[0]["path"], "id");
    insta::assert_json_snapshot!(doc);
}

#[test]
fn a_broken_fixture_names_its_line() {
    let ran = Test::new(&["validate", "fixtures/specs/invalid/yaml_syntax.yaml"])
        .code(78)
        .go();
    assert!(
        ran.stdout
            .starts_with("fixtures/specs/invalid/yaml_syntax.yaml:4:"),
        "{}",
        ran.stdout
    );
}

#[test]
fn check_binaries_passes_when_installed() {
    Test::new(&["validate", "--check-binaries", "tool-specs/echo_test.yaml"]).go();
}

#[test]
fn usage_errors_exit_64() {
    Test::new(&["validate"]).code(64).go();
    Test::new(&["validate", "--format", "xml", "tool-specs/echo_test.yaml"])
        .code(64)
        .go();
    let ran = Test::new(&[
        "validate",
        "tool-specs/echo_test.yaml",
        "--inputs",
        "@does-not-exist.json",
    ])
    .code(64)
    .go();
    insta::assert_snapshot!(ran.stderr);
}

#[test]
fn a_missing_spec_file_is_reported() {
    let ran = Test::new(&["validate", "no/such/spec.yaml"]).code(78).go();
    assert!(
        ran.stdout
            .contains("no/such/spec.yaml: cannot read the spec"),
        "{}",
        ran.stdout
    );
}

#[test]
fn list_shows_each_tool() {
    let ran = Test::new(&["list"]).go();
    insta::assert_snapshot!(ran.stdout);
    let ran = Test::new(&["list", "--specs-dir", "fixtures/specs/valid"]).go();
    assert!(ran.stdout.starts_with("all_types"), "{}", ran.stdout);
}

#[test]
fn schema_describes_inputs_for_tool_calling() {
    let ran = Test::new(&["schema", "tool-specs/blastn.yaml"]).go();
    let schema: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        schema["required"],
        serde_json::json!(["query", "db", "db_name"])
    );
    assert_eq!(
        schema["properties"]["outfmt"]["enum"],
        serde_json::json!(["6", "7", "10", null])
    );
    assert_eq!(schema["properties"]["max_target_seqs"]["minimum"], 1);
    assert_eq!(schema["additionalProperties"], false);
    insta::assert_json_snapshot!(schema);
}

#[test]
fn shell_completions_name_the_commands() {
    let ran = Test::new(&["completions", "bash"]).go();
    for word in [
        "omni-launch",
        "validate",
        "--check-binaries",
        "--result-uri",
    ] {
        assert!(ran.stdout.contains(word), "{word} missing");
    }
}

#[test]
fn keys_without_values_count_as_absent() {
    Test::new(&["validate", "fixtures/specs/valid/empty_values.yaml"]).go();
}

#[test]
fn the_readme_spec_example_is_valid() {
    let readme = std::fs::read_to_string(crate::util::root().join("README.md")).unwrap();
    let section = readme.split("## A tool spec").nth(1).unwrap();
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let dir = crate::util::workdir();
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, yaml).unwrap();
    Test::new(&["validate"]).arg(&path).go();
}

/// `list` says where each spec comes from and warns about the ones a
/// TOOL_ID would not find as named.
#[test]
fn list_warns_about_specs_a_tool_id_would_not_find() {
    let dir = crate::util::workdir();
    let echo =
        std::fs::read_to_string(crate::util::root().join("tool-specs/echo_test.yaml")).unwrap();
    std::fs::write(dir.path().join("echo.yaml"), &echo).unwrap();
    std::fs::write(
        dir.path().join("other.yml"),
        echo.replace("echo_test", "other"),
    )
    .unwrap();
    std::fs::write(dir.path().join("echo_test.yaml"), &echo).unwrap();
    let specs = dir.path().display().to_string();
    let ran = Test::new(&["list", "--specs-dir", &specs])
        .stderr_has("echo.yaml declares id `echo_test`")
        .stderr_has("other.yml is found only by --spec")
        .stderr_has("both declare id `echo_test`")
        .go();
    assert!(ran.stdout.contains("built-in"), "{}", ran.stdout);
}

/// `inputs-template` prints a document with every input, which `run`
/// then reads: defaults as they are, placeholders to fill in.
#[test]
fn inputs_template_lists_every_input() {
    let ran = Test::new(&["inputs-template", "tool-specs/blastn.yaml"]).go();
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let names: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        [
            "query",
            "db",
            "db_name",
            "evalue",
            "outfmt",
            "max_target_seqs"
        ]
    );
    assert_eq!(doc["evalue"], 10);
    assert_eq!(doc["max_target_seqs"], serde_json::Value::Null);
    // A tool id works as well as a file.
    Test::new(&["inputs-template", "echo_test"])
        .stdout_has("\"text\"")
        .go();
}

/// The spec format's own schema comes from the binary, for editors outside
/// this repository; it is the checked-in one.
#[test]
fn schema_of_the_spec_format_comes_from_the_binary() {
    let ran = Test::new(&["schema", "--spec-format"]).go();
    let checked_in =
        std::fs::read_to_string(crate::util::root().join("schema/tool-spec.schema.json")).unwrap();
    assert_eq!(ran.stdout, checked_in);
}

/// `new` writes a starter spec that validates as written; with
/// `--from-help`, a draft of the program's options as optional inputs;
/// it never overwrites a file.
#[test]
fn new_writes_a_starter_spec_that_validates() {
    let dir = crate::util::workdir();
    Test::new(&["new", "my_tool"])
        .current_dir(dir.path())
        .stderr_has("wrote tool-specs/my_tool.yaml")
        .go();
    Test::new(&["validate", "tool-specs/my_tool.yaml"])
        .current_dir(dir.path())
        .go();
    Test::new(&["new", "my_tool"])
        .current_dir(dir.path())
        .code(64)
        .stderr_has("exists")
        .go();
    let helper = crate::util::root().join("fixtures/bin/fake-aligner");
    let ran = Test::new(&["new", "aligner", "--output", "-", "--from-help"])
        .arg(&helper)
        .go();
    for input in [
        "threads: {type: int?}",
        "k: {type: int?}",
        "score_ratio: {type: float?}",
        "paired: {type: boolean?}",
        "read_group: {type: string?}",
    ] {
        assert!(ran.stdout.contains(input), "{input}:\n{}", ran.stdout);
    }
    assert!(!ran.stdout.contains("help:"), "{}", ran.stdout);
    let spec = dir.path().join("aligner.yaml");
    std::fs::write(&spec, &ran.stdout).unwrap();
    Test::new(&["validate"]).arg(&spec).go();
}
