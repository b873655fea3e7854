//! Output collection: every kind, File objects, and escapes refused.

use serde_json::json;

use crate::util::{Test, workdir};

#[test]
fn every_output_kind_is_collected() {
    let ran = Test::run(&["--spec", "fixtures/specs/run/outputs.yaml"]).go();
    let doc = ran.json();
    let r = &doc["results"];
    assert_eq!(r["n"], 42);
    assert_eq!(r["f"], 2.5);
    assert_eq!(r["b"], true);
    assert_eq!(r["j"], json!({"k": [1, 2]}));
    assert_eq!(r["out"], "  out  ");
    assert_eq!(r["err"], "err");
    assert_eq!(r["maybe"], serde_json::Value::Null);
    assert_eq!(r["absent"], serde_json::Value::Null);
    assert_eq!(r["none"], json!([]));

    let one = &r["one"];
    let workdir = doc["workdir"].as_str().unwrap();
    assert_eq!(one["class"], "File");
    assert_eq!(one["path"], format!("{workdir}/one.txt"));
    assert_eq!(one["location"], format!("file://{workdir}/one.txt"));
    assert_eq!(one["basename"], "one.txt");
    assert_eq!(one["nameroot"], "one");
    assert_eq!(one["nameext"], ".txt");
    assert_eq!(one["dirname"], workdir);
    assert_eq!(one["size"], 2);
    assert_eq!(one["format"], "text");
    // sha1 of "a\n"
    assert_eq!(
        one["checksum"],
        "sha1$3f786850e387550fdab836ed7e6dc881de23001b"
    );
    assert_eq!(one["secondaryFiles"], json!([]));

    // Sorted, hidden files left out.
    let many: Vec<&str> = r["many"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["basename"].as_str().unwrap())
        .collect();
    assert_eq!(many, ["a.txt", "b.txt"]);
}

#[test]
fn a_symlink_out_of_the_work_directory_is_refused() {
    let ran = Test::run(&["--spec", "fixtures/specs/run/leak.yaml"])
        .code(70)
        .go();
    let doc = ran.json();
    assert_eq!(
        doc["error"]["message"],
        "output `leaked`: \"leak.txt\" leads outside the work directory; it is not collected"
    );
}

#[test]
fn file_inputs_become_cwl_file_objects() {
    let data = workdir();
    for name in ["x.y.bam", "x.y.bam.bai", "x.y.csi", "more 1.txt"] {
        std::fs::write(data.path().join(name), name).unwrap();
    }
    let bam = data.path().join("x.y.bam");
    let inputs = json!({"bam": bam, "more": [data.path().join("more 1.txt")]});
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/files_in.yaml",
        "--inputs",
        &inputs.to_string(),
    ])
    .go();
    let doc = ran.json();
    assert_eq!(
        doc["results"]["out"],
        format!(
            "x.y.bam\nx.y\n.bam\nx.y.bam.bai\n{}",
            data.path().join("more 1.txt").display()
        )
    );
    let obj = &doc["inputs"]["bam"];
    assert_eq!(obj["size"], 7);
    assert_eq!(obj["secondaryFiles"].as_array().unwrap().len(), 2);
    assert_eq!(obj["secondaryFiles"][1]["basename"], "x.y.csi");
    let more = &doc["inputs"]["more"][0];
    assert_eq!(
        more["location"],
        format!("file://{}/more%201.txt", data.path().display())
    );

    // A required secondary file that is missing is input_missing.
    std::fs::remove_file(data.path().join("x.y.bam.bai")).unwrap();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/files_in.yaml",
        "--inputs",
        &json!({"bam": bam}).to_string(),
    ])
    .code(66)
    .go();
    assert!(
        ran.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secondary file")
    );
}
