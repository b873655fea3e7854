//! Inputs validation through `validate --inputs`: strict, CWL-style, every
//! problem named by its JSON path. One table per type.

use crate::util::{Test, redact};

const SPEC: &str = "fixtures/specs/valid/all_types.yaml";

/// (inputs beyond the required ones, expected problem or "" for valid)
fn check(extra: serde_json::Value, expected: &str) {
    let mut doc = serde_json::json!({"name": "abc", "count": 3});
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
    let code = if expected.is_empty() { 0 } else { 65 };
    let ran = Test::new(&["validate", SPEC, "--inputs", &doc.to_string()])
        .code(code)
        .go();
    if !expected.is_empty() {
        let first = redact(ran.stdout.lines().next().unwrap_or_default(), &[]);
        assert_eq!(first, expected, "{doc}");
    }
}

#[test]
fn strings() {
    use serde_json::json;
    for (value, expected) in [
        (json!("abc"), ""),
        (json!("ab"), ""),
        (
            json!("a"),
            "inputs.name: the string is 1 character long; the minimum is 2",
        ),
        (
            json!("abcdefghi"),
            "inputs.name: the string is 9 characters long; the maximum is 8",
        ),
        (
            json!("ABC"),
            "inputs.name: \"ABC\" does not match the pattern ^[a-z]+$",
        ),
        (
            json!(5),
            "inputs.name: expected a string, found the number 5",
        ),
        (json!(true), "inputs.name: expected a string, found true"),
        (
            json!(["abc"]),
            "inputs.name: expected a string, found a list",
        ),
        (
            json!("a\u{0}b"),
            "inputs.name: the string contains a NUL character, which cannot be passed to a program",
        ),
    ] {
        check(json!({"name": value}), expected);
    }
}

#[test]
fn ints() {
    use serde_json::json;
    for (value, expected) in [
        (json!(1), ""),
        (json!(10), ""),
        (json!(0), "inputs.count: 0 is less than the minimum 1"),
        (json!(11), "inputs.count: 11 is greater than the maximum 10"),
        (
            json!("5"),
            "inputs.count: expected an int, found the string \"5\"",
        ),
        (
            json!(5.5),
            "inputs.count: expected an int, found the number 5.5",
        ),
        (
            json!(5.0),
            "inputs.count: expected an int, found the number 5.0",
        ),
        (
            json!(null),
            "inputs.count: missing required input `count` (int)",
        ),
    ] {
        check(json!({"count": value}), expected);
    }
}

#[test]
fn floats() {
    use serde_json::json;
    for (value, expected) in [
        (json!(0.25), ""),
        (json!(1), ""),
        (json!(0), ""),
        (json!(null), ""),
        (
            json!(1.5),
            "inputs.ratio: 1.5 is greater than the maximum 1",
        ),
        (json!(-0.1), "inputs.ratio: -0.1 is less than the minimum 0"),
        (
            json!("0.5"),
            "inputs.ratio: expected a float, found the string \"0.5\"",
        ),
    ] {
        check(json!({"ratio": value}), expected);
    }
}

#[test]
fn booleans() {
    use serde_json::json;
    for (value, expected) in [
        (json!(true), ""),
        (json!(false), ""),
        (
            json!("true"),
            "inputs.flag: expected true or false, found the string \"true\"",
        ),
        (
            json!(1),
            "inputs.flag: expected true or false, found the number 1",
        ),
    ] {
        check(json!({"flag": value}), expected);
    }
}

#[test]
fn enums() {
    use serde_json::json;
    for (value, expected) in [
        (json!("slow"), ""),
        (
            json!("SLOW"),
            "inputs.mode: \"SLOW\" is not one of \"fast\", \"slow\"",
        ),
        (
            json!("fsat"),
            "inputs.mode: \"fsat\" is not one of \"fast\", \"slow\"; did you mean `fast`?",
        ),
        (
            json!(1),
            "inputs.mode: expected one of \"fast\", \"slow\", found the number 1",
        ),
    ] {
        check(json!({"mode": value}), expected);
    }
}

#[test]
fn files_and_directories() {
    use serde_json::json;
    for (inputs, expected) in [
        (json!({"reads": ["Cargo.toml", "Cargo.lock"]}), ""),
        (
            json!({"reads": [{"class": "File", "path": "Cargo.toml"}]}),
            "",
        ),
        (
            json!({"reads": [{"class": "File", "location": "file:///etc/passwd"}]}),
            "",
        ),
        (
            json!({"reads": ["s3://bucket/reads.fq", "azureblob://acct/cont/r.fq"]}),
            "",
        ),
        (json!({"dir": "fixtures"}), ""),
        (
            json!({"reads": ["missing.fq"]}),
            "inputs.reads[0]: File \"[ROOT]/missing.fq\" does not exist",
        ),
        (
            json!({"reads": "Cargo.toml"}),
            "inputs.reads: expected a list (File[]?), found the string \"Cargo.toml\"",
        ),
        (
            json!({"reads": [{"class": "Directory", "path": "src"}]}),
            "inputs.reads[0]: expected class \"File\", found the string \"Directory\"",
        ),
        (
            json!({"reads": [{"path": "Cargo.toml"}]}),
            "inputs.reads[0]: a File object needs \"class\": \"File\"",
        ),
        (
            json!({"reads": ["src"]}),
            "inputs.reads[0]: \"[ROOT]/src\" is a directory, not a File",
        ),
        (
            json!({"dir": "Cargo.toml"}),
            "inputs.dir: \"[ROOT]/Cargo.toml\" is a file, not a Directory",
        ),
        (
            json!({"ref": "gs://bucket/x.fa"}),
            "inputs.ref: unsupported URI scheme `gs://`; use a local path, file://, s3://, azureblob:// or https://",
        ),
        (
            json!({"ref": "s3:///x.fa"}),
            "inputs.ref: invalid store URI \"s3:///x.fa\": the bucket is missing (s3://bucket/prefix/)",
        ),
    ] {
        check(inputs, expected);
    }
}

#[test]
fn arrays_and_optionals() {
    use serde_json::json;
    for (inputs, expected) in [
        (json!({"tags": ["a", "b c"]}), ""),
        (json!({"tags": []}), ""),
        (json!({"note": null}), ""),
        (
            json!({"tags": ["a", 2, "c", false]}),
            "inputs.tags[1]: expected a string, found the number 2",
        ),
        (json!({"tags": null}), ""),
    ] {
        check(inputs, expected);
    }
}

#[test]
fn all_problems_are_reported_together() {
    let doc = serde_json::json!({
        "nmae": "abc", "count": "3", "ratio": 7, "flag": "no", "mode": "medium",
        "reads": ["nope.fq"], "tags": [1]
    });
    let ran = Test::new(&["validate", SPEC, "--inputs", &doc.to_string()])
        .code(65)
        .go();
    insta::assert_snapshot!(redact(&ran.stdout, &[]));
}

#[test]
fn not_an_object_and_not_json() {
    let ran = Test::new(&["validate", SPEC, "--inputs", "[1, 2]"])
        .code(65)
        .go();
    assert_eq!(
        ran.stdout.lines().next(),
        Some("inputs: expected a JSON object of inputs, found a list")
    );
    let ran = Test::new(&["validate", SPEC, "--inputs", "{\"name\": "])
        .code(65)
        .go();
    insta::assert_snapshot!(ran.stdout);
}

#[test]
fn inputs_from_a_file_name_the_file() {
    let dir = crate::util::workdir();
    let path = dir.path().join("inputs.json");
    std::fs::write(&path, r#"{"name": "abc", "count": 0}"#).unwrap();
    let ran = Test::new(&["validate", SPEC, "--inputs"])
        .arg(format!("@{}", path.display()))
        .code(65)
        .go();
    assert_eq!(
        redact(ran.stdout.lines().next().unwrap_or_default(), &[dir.path()]),
        "[TMP0]/inputs.json: inputs.count: 0 is less than the minimum 1"
    );
}

/// `stage: copy` places a local input in the work directory: the tool may
/// change its copy, never the user's file; `link` too (a hard link where
/// possible); two inputs with one name cannot both be placed there; render
/// shows the place a run would use.
#[test]
fn staged_inputs_are_placed_in_the_work_directory() {
    let data = crate::util::workdir();
    let file = data.path().join("data.txt");
    std::fs::write(&file, "original\n").unwrap();
    let other = data.path().join("other.txt");
    std::fs::write(&other, "x").unwrap();
    let inputs = serde_json::json!({ "data": file, "more": [other] }).to_string();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/stage_copy.yaml",
        "--inputs",
        &inputs,
    ])
    .go();
    let doc = ran.json();
    assert_eq!(
        doc["results"]["out"],
        "original\nappended\ndata.txt\nother.txt"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
    let staged = doc["inputs"]["data"]["path"].as_str().unwrap();
    assert!(
        staged.starts_with(doc["workdir"].as_str().unwrap()),
        "{staged}"
    );
    assert_eq!(
        doc["inputs"]["data"]["location"],
        url::Url::from_file_path(&file).unwrap().as_str()
    );

    let clash =
        serde_json::json!({ "data": file, "more": [data.path().join("data.txt")] }).to_string();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/stage_copy.yaml",
        "--inputs",
        &clash,
    ])
    .code(66)
    .go();
    assert!(
        ran.message().contains("already staged"),
        "{}",
        ran.message()
    );

    let ran = Test::new(&[
        "render",
        "fixtures/specs/run/stage_copy.yaml",
        "--inputs",
        &inputs,
        "--workdir",
        "/w/run",
    ])
    .go();
    assert!(ran.stdout.contains("'/w/run/data.txt'"), "{}", ran.stdout);
}

/// Records: typed fields with defaults, lists of records, every problem
/// named by its JSON path inside them, File fields completed like inputs,
/// and fields in templates as `{{ options.mode }}`.
#[test]
fn records_and_lists_of_records() {
    let data = crate::util::workdir();
    std::fs::write(data.path().join("a.fa"), "ACGT\n").unwrap();
    std::fs::write(data.path().join("b.fa"), "AC\n").unwrap();
    let inputs = serde_json::json!({
        "options": {"mode": "exact"},
        "samples": [
            {"name": "s1", "reads": data.path().join("a.fa")},
            {"name": "s2", "reads": data.path().join("b.fa")},
        ],
    })
    .to_string();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/records.yaml",
        "--inputs",
        &inputs,
    ])
    .go();
    let doc = ran.json();
    assert_eq!(
        doc["results"]["out"],
        "q=20 mode=exact label=\ns1:a.fa:5\ns2:b.fa:3"
    );
    assert_eq!(doc["inputs"]["options"]["min_quality"], 20);
    assert_eq!(doc["inputs"]["samples"][1]["reads"]["class"], "File");
    assert_eq!(doc["inputs"]["samples"][1]["reads"]["size"], 3);

    let bad = serde_json::json!({
        "options": {"mode": "exat", "min_qual": 3},
        "samples": [{"name": "bad name", "reads": "nope.fa"}, {"reads": "x"}],
    })
    .to_string();
    let ran = Test::new(&[
        "validate",
        "fixtures/specs/run/records.yaml",
        "--inputs",
        &bad,
    ])
    .code(65)
    .go();
    insta::assert_snapshot!(redact(&ran.stdout, &[]));

    let ran = Test::new(&["schema", "fixtures/specs/run/records.yaml"]).go();
    let schema: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let sample = &schema["properties"]["samples"]["items"];
    assert_eq!(sample["type"], "object");
    assert_eq!(sample["required"], serde_json::json!(["name", "reads"]));
    let ran = Test::new(&["inputs-template", "fixtures/specs/run/records.yaml"]).go();
    let template: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(template["options"]["min_quality"], 20);
    assert_eq!(template["samples"][0]["name"], "<name>");
}
