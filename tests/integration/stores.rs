//! Results, outputs and staged inputs on real object stores (moto's S3
//! server and Azurite), and behaviour under injected faults.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::proxy::{Fault, Proxy};
use crate::servers::{Azurite, S3};
use crate::util::{Ran, Test};

/// `omni-launch run ARGS…` with a store's environment, expecting `code`.
pub fn launch(env: &[(&'static str, String)], args: &[&str], code: i32) -> Ran {
    Test::run(args)
        .envs(env)
        .env("OMNI_STORE_RETRY_TIMEOUT_S", "20")
        .code(code)
        .go()
}

/// The environment and a fresh prefix for each store.
pub fn every_store(prefix: &str) -> Vec<(Vec<(&'static str, String)>, String)> {
    let s3 = S3::new();
    let az = Azurite::new();
    vec![
        (s3.env(&s3.endpoint), s3.uri(prefix)),
        (az.env(&az.url), az.uri(prefix)),
    ]
}

/// Reads a stored JSON object back by staging it as an input.
pub fn read_json(env: &[(&'static str, String)], uri: &str) -> Value {
    let inputs = json!({ "f": uri }).to_string();
    let ran = launch(
        env,
        &[
            "--spec",
            "fixtures/specs/run/read_json.yaml",
            "--inputs",
            &inputs,
        ],
        0,
    );
    ran.json()["results"]["doc"].clone()
}

/// Reads a stored text object back by staging it (trailing newlines
/// dropped, as a string output does).
pub fn read_text(env: &[(&'static str, String)], uri: &str) -> String {
    let inputs = json!({ "f": uri }).to_string();
    let ran = launch(
        env,
        &[
            "--spec",
            "fixtures/specs/run/read_text.yaml",
            "--inputs",
            &inputs,
        ],
        0,
    );
    ran.json()["results"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Copies a stored object back by staging it; returns its File object.
pub fn read_file(env: &[(&'static str, String)], uri: &str) -> Value {
    let inputs = json!({ "f": uri }).to_string();
    let ran = launch(
        env,
        &[
            "--spec",
            "fixtures/specs/run/copy.yaml",
            "--inputs",
            &inputs,
        ],
        0,
    );
    ran.json()["results"]["copy"].clone()
}

fn echo_round_trip(env: Vec<(&'static str, String)>, prefix: &str) {
    let ran = launch(
        &env,
        &[
            "echo_test",
            "--run-id",
            "r-1",
            "--inputs",
            r#"{"text": "hello store"}"#,
            "--result-uri",
            prefix,
        ],
        0,
    );
    let printed = ran.json();
    let results_uri = format!("{prefix}results.json");
    assert!(
        ran.stderr
            .contains(&format!("results stored at {results_uri}")),
        "{}",
        ran.stderr
    );
    let stored = read_json(&env, &results_uri);
    assert_eq!(stored, printed);
    assert_eq!(stored["results"], json!({"echo": "hello store"}));
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn echo_results_round_trip_through_s3() {
    let s3 = S3::new();
    echo_round_trip(s3.env(&s3.endpoint), &s3.uri("runs/r-1/"));
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn echo_results_round_trip_through_azurite() {
    let az = Azurite::new();
    echo_round_trip(az.env(&az.url), &az.uri("runs/r-1/"));
}

/// A 12 MiB output in 5 MiB parts: stored bytes match size and checksum.
fn multipart(env: Vec<(&'static str, String)>, prefix: &str) {
    let mut env = env;
    env.push(("S3_UPLOAD_PART_MIN_SIZE", (5 << 20).to_string()));
    let ran = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/big_file.yaml",
            "--inputs",
            r#"{"mib": 12}"#,
            "--result-uri",
            prefix,
        ],
        0,
    );
    let big = &ran.json()["results"]["big"];
    let location = big["location"].as_str().unwrap();
    assert_eq!(location, format!("{prefix}outputs/big/big.bin"));
    assert_eq!(big["size"], 12 << 20);
    let copy = read_file(&env, location);
    assert_eq!(copy["size"], big["size"]);
    assert_eq!(copy["checksum"], big["checksum"]);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn multipart_output_to_s3_keeps_its_bytes() {
    let s3 = S3::new();
    multipart(s3.env(&s3.endpoint), &s3.uri("big/"));
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn staged_block_output_to_azurite_keeps_its_bytes() {
    let az = Azurite::new();
    multipart(az.env(&az.url), &az.uri("big/"));
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn a_json_result_uri_names_the_object_on_s3() {
    let s3 = S3::new();
    let env = s3.env(&s3.endpoint);
    let uri = s3.uri("jobs/42/summary.json");
    let ran = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/outputs.yaml",
            "--result-uri",
            &uri,
        ],
        0,
    );
    let doc = ran.json();
    assert_eq!(
        doc["results"]["one"]["location"],
        s3.uri("jobs/42/outputs/one/one.txt")
    );
    assert_eq!(read_json(&env, &uri), doc);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn directories_and_secondary_files_stage_from_each_store() {
    for (env, prefix) in every_store("dir/") {
        // Store a File[] output folder, then stage that folder as a Directory.
        launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/outputs.yaml",
                "--result-uri",
                &prefix,
            ],
            0,
        );
        let inputs = json!({ "d": format!("{prefix}outputs/many") }).to_string();
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/listing.yaml",
                "--inputs",
                &inputs,
            ],
            0,
        );
        let doc = ran.json();
        assert_eq!(doc["results"]["names"], "a.txt\nb.txt");
        assert_eq!(
            doc["inputs"]["d"]["location"],
            format!("{prefix}outputs/many")
        );
        assert_eq!(doc["inputs"]["d"]["basename"], "many");

        // A File inside a list of records stages from the store too.
        let inputs = json!({
            "options": {},
            "samples": [{"name": "s1", "reads": format!("{prefix}outputs/many/a.txt")}],
        })
        .to_string();
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/records.yaml",
                "--inputs",
                &inputs,
            ],
            0,
        );
        let reads = &ran.json()["inputs"]["samples"][0]["reads"];
        assert!(
            reads["path"]
                .as_str()
                .unwrap()
                .ends_with("/inputs/samples/0/reads/a.txt"),
            "{reads}"
        );
        assert_eq!(reads["size"], 1);

        // A missing object is input_missing, naming the input and the URI.
        let missing = format!("{prefix}no/such.bam");
        let inputs = json!({ "bam": missing }).to_string();
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/files_in.yaml",
                "--inputs",
                &inputs,
            ],
            66,
        );
        assert_eq!(
            ran.json()["error"]["message"],
            format!("inputs.bam: \"{missing}\" does not exist")
        );
    }
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn remote_basenames_keep_spaces_and_unicode() {
    for (env, prefix) in every_store("names/") {
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/awkward_name.yaml",
                "--result-uri",
                &prefix,
            ],
            0,
        );
        let stored = ran.json()["results"]["f"].clone();
        let uri = format!("{prefix}outputs/f/my reads ü.fa");
        assert_eq!(stored["location"], uri);
        let inputs = json!({ "f": uri }).to_string();
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/copy.yaml",
                "--inputs",
                &inputs,
            ],
            0,
        );
        let doc = ran.json();
        let f = &doc["inputs"]["f"];
        assert_eq!(f["basename"], "my reads ü.fa");
        assert_eq!(f["nameroot"], "my reads ü");
        assert!(
            f["path"]
                .as_str()
                .unwrap()
                .ends_with("/inputs/f/my reads ü.fa")
        );
        assert_eq!(f["size"], 8);
        assert_eq!(doc["results"]["copy"]["checksum"], stored["checksum"]);
    }
}

fn survives(
    fault: Fault,
    env_for: impl Fn(&str) -> Vec<(&'static str, String)>,
    upstream: &str,
    prefix: &str,
) {
    // Uploads: results and an output through a proxy that fails twice.
    let proxy = Proxy::start(upstream, fault, 2);
    let env = env_for(&proxy.url);
    launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/outputs.yaml",
            "--result-uri",
            prefix,
        ],
        0,
    );
    assert_eq!(proxy.faults_left(), 0, "{fault:?}: the faults were not hit");
    // Downloads: stage the stored results back through a fresh faulty proxy.
    let proxy = Proxy::start(upstream, fault, 2);
    let env = env_for(&proxy.url);
    let stored = read_json(&env, &format!("{prefix}results.json"));
    assert_eq!(proxy.faults_left(), 0);
    assert_eq!(stored["ok"], true);
    assert_eq!(stored["results"]["n"], 42);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn s3_transfers_survive_two_consecutive_faults() {
    let s3 = S3::new();
    for (i, fault) in [Fault::Unavailable, Fault::Drop, Fault::ResetMidBody]
        .into_iter()
        .enumerate()
    {
        survives(
            fault,
            |url| s3.env(url),
            &s3.endpoint,
            &s3.uri(&format!("faults/{i}/")),
        );
    }
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn azure_transfers_survive_two_consecutive_faults() {
    let az = Azurite::new();
    for (i, fault) in [Fault::Unavailable, Fault::Drop, Fault::ResetMidBody]
        .into_iter()
        .enumerate()
    {
        survives(
            fault,
            |url| az.env(url),
            &az.url,
            &az.uri(&format!("faults/{i}/")),
        );
    }
}

#[test]
fn an_unreachable_store_exits_75_in_bounded_time() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let env = vec![
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", endpoint),
    ];
    let started = Instant::now();
    let ran = Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        "s3://bucket/r/",
    ])
    .envs(&env)
    .env("OMNI_STORE_RETRY_TIMEOUT_S", "3")
    .code(75)
    .go();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let doc = ran.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["kind"], "store_unavailable");
    // The store is read before the tool runs (for an earlier run of the
    // job): unreachable, nothing is run, as nothing could be stored; the
    // results are kept locally.
    assert_eq!(doc["results"], serde_json::json!({}));
    assert!(doc["command"].is_null());
    let kept = format!(
        "{}/.omni-launch/results.json",
        doc["workdir"].as_str().unwrap()
    );
    assert!(
        ran.stderr.contains(&format!(
            "results.json could not be stored; it is kept at {kept}"
        )),
        "{}",
        ran.stderr
    );
    let local: Value = serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(local, doc);
}

#[test]
fn sigterm_while_staging_ends_the_run_with_results() {
    // A store that accepts the request and never answers.
    let proxy = Proxy::start("127.0.0.1:9", Fault::Hang, usize::MAX);
    let base = crate::util::workdir();
    let child = crate::util::omni_std()
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/copy.yaml",
            "--inputs",
            r#"{"f": "s3://bucket/reads.fa"}"#,
            "--workdir",
        ])
        .arg(base.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    crate::util::sigterm(&child);
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(143));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "signalled");
    assert_eq!(
        doc["error"]["message"],
        "the launcher received SIGTERM and stopped the run"
    );
    assert_eq!(doc["command"], Value::Null, "the tool never ran");
}
