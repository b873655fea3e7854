//! Every recipe of `examples/specs/` validates, and runs to the result its
//! comment promises.

use serde_json::{Value, json};

use crate::util::{Test, workdir};

#[test]
fn every_recipe_validates() {
    let dir = crate::util::root().join("examples/specs");
    let mut specs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    specs.sort();
    let args: Vec<&str> = specs.iter().map(String::as_str).collect();
    let ran = Test::new(&[&["validate"], args.as_slice()].concat()).go();
    assert!(
        ran.stdout.ends_with("0 invalid; 0 problems\n"),
        "{}",
        ran.stdout
    );
}

/// Runs a recipe and returns its results.
fn results(recipe: &str, inputs: Value) -> Value {
    let spec = format!("examples/specs/{recipe}.yaml");
    let ran = Test::run(&["--spec", &spec, "--inputs", &inputs.to_string()]).go();
    ran.json()["results"].clone()
}

#[test]
fn every_recipe_runs() {
    let data = workdir();
    let file = |name: &str, text: &str| {
        let path = data.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let lines = file("lines.txt", "b\na\nc\n");

    assert_eq!(
        results("boolean_flag", json!({"lines": lines}))["sorted"],
        "a\nb\nc"
    );
    assert_eq!(
        results("boolean_flag", json!({"lines": lines, "reverse": true}))["sorted"],
        "c\nb\na"
    );
    assert_eq!(
        results("optional_value", json!({"text": lines, "count": 1}))["kept"],
        "b"
    );
    assert_eq!(
        results("optional_value", json!({"text": lines}))["kept"],
        "b\na\nc"
    );
    assert_eq!(
        results("enum_choice", json!({"text": "MiXed"}))["changed"],
        "MIXED"
    );
    assert_eq!(
        results("enum_choice", json!({"text": "MiXed", "case": "lower"}))["changed"],
        "mixed"
    );

    let parts = [file("p1.txt", "one\n"), file("p2.txt", "two\n")];
    let joined = &results("file_list", json!({"parts": parts}))["joined"];
    assert_eq!(joined["size"], 8);

    let data_file = file("d/data.txt", "payload");
    file("d/data.txt.idx", "index!\n");
    assert_eq!(
        results("secondary_files", json!({"data": data_file}))["report"],
        "data.txt 1\nindex!"
    );
    file("d/data.md5", "x");
    assert_eq!(
        results("secondary_files", json!({"data": data_file}))["report"],
        "data.txt 2\nindex!"
    );

    assert_eq!(
        results("argv_no_shell", json!({"words": ["a b", "$(c)"]}))["printed"],
        "a b|$(c)|"
    );
    assert_eq!(
        results("argv_no_shell", json!({"words": ["x"], "prefix": ">"}))["printed"],
        ">|x|"
    );
    assert_eq!(
        results("env_vars", json!({"name": "$(id) 'you'"}))["greeting"],
        "Hello, $(id) 'you' (1 threads)"
    );
    let values = results("value_outputs", json!({"text": lines}));
    assert_eq!(values["lines"], 3);
    assert_eq!(values["ratio"], 0.25);
    assert_eq!(values["nonempty"], true);
    assert_eq!(values["info"], json!({"name": "lines.txt"}));

    let captured = results("stdout_capture", json!({"text": "hi there"}));
    assert_eq!(captured["echoed"], "hi there");
    assert_eq!(captured["copy"]["size"], 9);
    assert_eq!(captured["log"], "done");

    let folder = data.path().join("folder");
    file("folder/a.txt", "a");
    file("folder/b.txt", "b");
    file("folder/.hidden.txt", "h");
    let dir = results("directory_input", json!({"folder": folder}));
    assert_eq!(dir["listing"], "a.txt\nb.txt");
    let copies: Vec<&str> = dir["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["basename"].as_str().unwrap())
        .collect();
    assert_eq!(copies, ["a.txt", "b.txt"]);

    assert_eq!(
        results(
            "record_options",
            json!({"opts": {"width": 3, "fill": "-"}, "items": [{"name": "x", "count": 1}, {"name": "y", "count": 2}]})
        )["table"],
        "x1\ny2\n---"
    );

    let plain = file("plain/data.txt", "zip me");
    let compressed = &results("stage_beside", json!({"data": plain}))["compressed"];
    assert_eq!(compressed["basename"], "data.txt.gz");
    assert!(
        !plain.with_extension("txt.gz").exists(),
        "gzip wrote beside the input"
    );
}
