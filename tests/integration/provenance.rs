//! What a run records about itself and keeps: checksums of inputs and
//! outputs, the tool's logs in the store on every path, secrets masked in
//! every byte the launcher writes, inputs and resources by URI, the batch
//! job it was, and JSON log lines.

use std::path::Path;

use serde_json::{Value, json};

use crate::stores::{every_store, launch, read_file, read_json, read_text};
use crate::util::{Test, redact, workdir};

/// `(sha1, sha256)` of some bytes, as hex.
fn digests(bytes: &[u8]) -> (String, String) {
    use sha1::Digest;
    (
        hex::encode(sha1::Sha1::digest(bytes)),
        hex::encode(sha2::Sha256::digest(bytes)),
    )
}

/// Every regular file below `dir`.
fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn file_uri(path: &Path) -> String {
    url::Url::from_file_path(path).unwrap().to_string()
}

#[test]
fn file_inputs_and_outputs_carry_their_checksums() {
    let data = workdir();
    let input = data.path().join("reads.fa");
    let bytes = b">r1\nACGTACGT\n";
    std::fs::write(&input, bytes).unwrap();
    let (sha1, sha256) = digests(bytes);
    let inputs = json!({ "f": input }).to_string();

    let doc = Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &inputs,
    ])
    .go()
    .json();
    for file in [&doc["inputs"]["f"], &doc["results"]["copy"]] {
        assert_eq!(file["checksum"], format!("sha1${sha1}"), "{file}");
        assert_eq!(file["sha256"], sha256.as_str(), "{file}");
    }

    // Large shared references need not be read twice; outputs still are.
    let doc = Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &inputs,
        "--no-input-checksums",
    ])
    .go()
    .json();
    assert!(doc["inputs"]["f"].get("checksum").is_none());
    assert_eq!(doc["results"]["copy"]["sha256"], sha256.as_str());
}

#[test]
fn a_file_given_with_a_checksum_is_checked() {
    let data = workdir();
    let input = data.path().join("reads.fa");
    std::fs::write(&input, b"ACGT\n").unwrap();
    let (sha1, sha256) = digests(b"ACGT\n");
    let given = |checksum: &str| {
        json!({ "f": {"class": "File", "path": input, "checksum": checksum} }).to_string()
    };
    let run = |inputs: &str, code: i32| {
        Test::run(&[
            "--spec",
            "fixtures/specs/run/copy.yaml",
            "--inputs",
            inputs,
            "--no-input-checksums",
        ])
        .code(code)
        .go()
    };
    // Either algorithm, any case; checked even with --no-input-checksums.
    run(&given(&format!("sha256${}", sha256.to_uppercase())), 0);
    let ran = run(&given(&format!("sha1${sha1}")), 0);
    assert_eq!(ran.json()["inputs"]["f"]["sha256"], sha256.as_str());

    let wrong = format!("sha1${}", "0".repeat(40));
    let ran = run(&given(&wrong), 66);
    let message = redact(&ran.message(), &[data.path()]);
    insta::assert_snapshot!("wrong_checksum", message);

    let ran = run(&given("md5$d41d8cd98f00b204e9800998ecf8427e"), 65);
    let message = redact(&ran.message(), &[data.path()]);
    insta::assert_snapshot!("malformed_checksum", message);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn remote_inputs_are_hashed_as_they_download_and_checked() {
    let data = workdir();
    let input = data.path().join("reads.fa");
    let bytes = b">remote\nGGGGCCCC\n";
    std::fs::write(&input, bytes).unwrap();
    let (sha1, sha256) = digests(bytes);
    for (env, prefix) in every_store("hashed/") {
        let inputs = json!({ "f": input }).to_string();
        let stored = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/copy.yaml",
                "--inputs",
                &inputs,
                "--result-uri",
                &prefix,
            ],
            0,
        );
        let uri = stored.json()["results"]["copy"]["location"]
            .as_str()
            .unwrap()
            .to_string();
        let copied = read_file(&env, &uri);
        assert_eq!(copied["checksum"], format!("sha1${sha1}"));
        assert_eq!(copied["sha256"], sha256.as_str());

        let wrong = json!({ "f": {"class": "File", "location": uri, "checksum": format!("sha256${}", "f".repeat(64))} });
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/copy.yaml",
                "--inputs",
                &wrong.to_string(),
            ],
            66,
        );
        assert!(
            ran.message().contains("does not match its checksum"),
            "{}",
            ran.message()
        );
    }
}

#[test]
fn logs_reach_the_store_on_every_path() {
    let store = workdir();
    let cases = [
        (
            vec![
                "--spec",
                "fixtures/specs/run/exit_code.yaml",
                "--inputs",
                r#"{"code": 0}"#,
            ],
            0,
        ),
        (
            vec![
                "--spec",
                "fixtures/specs/run/exit_code.yaml",
                "--inputs",
                r#"{"code": 3}"#,
            ],
            3,
        ),
        (
            vec![
                "--spec",
                "fixtures/specs/run/sleep.yaml",
                "--inputs",
                r#"{"secs": 60}"#,
                "--timeout",
                "1",
            ],
            124,
        ),
    ];
    for (i, (args, code)) in cases.into_iter().enumerate() {
        let prefix = store.path().join(format!("run-{i}"));
        let uri = format!("{}/", file_uri(&prefix));
        let ran = Test::run(&args)
            .arg("--result-uri")
            .arg(&uri)
            .code(code)
            .go();
        let doc = ran.json();
        for stream in ["stdout", "stderr"] {
            let kept = prefix.join("logs").join(stream);
            assert_eq!(doc["logs"][stream], format!("{uri}logs/{stream}"), "{doc}");
            let text = std::fs::read_to_string(&kept).unwrap();
            if code != 124 {
                assert_eq!(text, format!("to {stream}\n"));
            }
        }
        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(prefix.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(stored["logs"], doc["logs"]);
    }
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn logs_of_a_failed_run_reach_s3_and_azure() {
    for (env, prefix) in every_store("failed/") {
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/exit_code.yaml",
                "--inputs",
                r#"{"code": 5}"#,
                "--result-uri",
                &prefix,
            ],
            5,
        );
        let stderr = ran.json()["logs"]["stderr"].as_str().unwrap().to_string();
        assert_eq!(stderr, format!("{prefix}logs/stderr"));
        assert_eq!(read_text(&env, &stderr), "to stderr");
    }
}

const SECRET: &str = "tok-'7f3a9\"c2$";

fn secret_inputs(fail: bool) -> String {
    json!({"token": SECRET, "user": "ada", "fail": fail}).to_string()
}

/// Fails when `text` holds the secret, raw or as the shell quotes it.
fn assert_masked(what: &str, text: &str) {
    let quoted = SECRET.replace('\'', "'\\''");
    assert!(
        !text.contains(SECRET) && !text.contains(&quoted) && !text.contains("7f3a9"),
        "{what} shows the secret:\n{text}"
    );
}

#[test]
fn a_secret_is_in_no_byte_the_launcher_writes() {
    for fail in [false, true] {
        let store = workdir();
        let uri = format!("{}/", file_uri(store.path()));
        let ran = Test::run(&[
            "--spec",
            "fixtures/specs/run/secret.yaml",
            "--inputs",
            &secret_inputs(fail),
            "--result-uri",
            &uri,
            "--keep-workdir",
        ])
        .code(if fail { 3 } else { 0 })
        .go();
        assert_masked("stdout", &ran.stdout);
        assert_masked("stderr", &ran.stderr);
        let doc = ran.json();
        assert_eq!(doc["inputs"]["token"], "***");
        assert!(
            doc["command"]
                .as_str()
                .unwrap()
                .contains("token %s\\n' 'ada' ***")
        );
        assert!(ran.stderr.contains("stderr token ***"), "{}", ran.stderr);
        for file in files_below(store.path()) {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            if file.ends_with("outputs/file/token.txt") {
                // The tool's own output file is the tool's business.
                assert_eq!(text, SECRET);
                continue;
            }
            assert_masked(&file.display().to_string(), &text);
        }
        let logs = std::fs::read_to_string(store.path().join("logs/stdout")).unwrap();
        assert_eq!(logs, "user ada token ***\n");
        let kept = ran.workdir().join(".omni-launch/results.json");
        assert_masked(
            "the kept results.json",
            &std::fs::read_to_string(kept).unwrap(),
        );
    }

    // A message about an invalid secret, and a dry run, mask it too.
    let bad = json!({"token": SECRET, "user": 5}).to_string();
    let ran = Test::run(&["--spec", "fixtures/specs/run/secret.yaml", "--inputs", &bad])
        .env("OMNI_LOG_FORMAT", "json")
        .code(65)
        .go();
    assert_masked("stdout", &ran.stdout);
    assert_masked("stderr", &ran.stderr);
    for format in ["text", "json"] {
        let ran = Test::new(&[
            "render",
            "fixtures/specs/run/secret.yaml",
            "--inputs",
            &secret_inputs(false),
            "--format",
            format,
        ])
        .go();
        assert_masked("render", &ran.stdout);
        assert!(ran.stdout.contains("***"));
    }
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn a_secret_is_in_no_byte_stored_on_s3_or_azure() {
    for (env, prefix) in every_store("secret/") {
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/secret.yaml",
                "--inputs",
                &secret_inputs(true),
                "--result-uri",
                &prefix,
            ],
            3,
        );
        assert_masked("stderr", &ran.stderr);
        let stored = read_json(&env, &format!("{prefix}results.json"));
        assert_masked("results.json", &stored.to_string());
        for stream in ["stdout", "stderr"] {
            let text = read_text(&env, &format!("{prefix}logs/{stream}"));
            assert_masked(stream, &text);
            assert!(text.contains("token ***"), "{text}");
        }
    }
}

#[test]
fn inputs_and_resources_can_be_given_by_uri() {
    let docs = workdir();
    let inputs = docs.path().join("inputs.json");
    let resources = docs.path().join("resources.json");
    std::fs::write(&inputs, r#"{"text": "from a stored document"}"#).unwrap();
    std::fs::write(&resources, r#"{"cpu": 3}"#).unwrap();
    let ran = Test::run(&["echo_test"])
        .env("INPUTS_JSON", file_uri(&inputs))
        .env("RESOURCES_JSON", file_uri(&resources))
        .go();
    let doc = ran.json();
    assert_eq!(doc["results"]["echo"], "from a stored document");
    assert_eq!(doc["resources"]["cpu"], 3.0);

    let missing = file_uri(&docs.path().join("absent.json"));
    let ran = Test::run(&["echo_test", "--inputs", &missing])
        .code(66)
        .go();
    let message = redact(&ran.message(), &[docs.path()]);
    insta::assert_snapshot!("inputs_uri_missing", message);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn inputs_can_be_read_from_s3_and_azure() {
    let data = workdir();
    let doc = data.path().join("inputs.json");
    std::fs::write(&doc, r#"{"text": "from the store"}"#).unwrap();
    for (env, prefix) in every_store("docs/") {
        // Put the document in the store as a run's output.
        let stored = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/copy.yaml",
                "--inputs",
                &json!({ "f": doc }).to_string(),
                "--result-uri",
                &prefix,
            ],
            0,
        );
        let uri = stored.json()["results"]["copy"]["location"]
            .as_str()
            .unwrap()
            .to_string();
        let ran = Test::run(&["echo_test"])
            .envs(&env)
            .env("INPUTS_JSON", &uri)
            .go();
        assert_eq!(ran.json()["results"]["echo"], "from the store");
    }
}

#[test]
fn the_batch_job_and_host_are_recorded() {
    let ran = Test::run(&["echo_test", "--inputs", r#"{"text": "x"}"#])
        .env("AWS_BATCH_JOB_ID", "8f3c-job")
        .env("AWS_BATCH_JOB_ATTEMPT", "2")
        .env("AWS_BATCH_JQ_NAME", "genomics")
        .go();
    let launcher = &ran.json()["launcher"];
    assert_eq!(
        launcher["job"],
        json!({"system": "aws-batch", "job_id": "8f3c-job", "attempt": 2, "queue": "genomics"})
    );
    assert!(!launcher["host"].as_str().unwrap().is_empty());

    let ran = Test::run(&["echo_test", "--inputs", r#"{"text": "x"}"#])
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_ARRAY_TASK_ID", "7")
        .env("SLURM_JOB_PARTITION", "short")
        .go();
    assert_eq!(
        ran.json()["launcher"]["job"],
        json!({"system": "slurm", "job_id": "4242", "attempt": 1, "array_index": 7, "queue": "short"})
    );
}

#[test]
fn json_log_lines_are_json() {
    let ran = Test::run(&["echo_test", "--inputs", r#"{"txt": "x"}"#])
        .env("OMNI_LOG_FORMAT", "json")
        .code(65)
        .go();
    let run_id = ran.json()["run_id"].clone();
    let lines: Vec<Value> = ran
        .stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["run_id"], run_id);
    assert!(last["message"].as_str().unwrap().contains("inputs.txt"));
}

/// How many times the count_runs tool ran.
fn runs(marker: &Path) -> usize {
    std::fs::read_to_string(marker).map_or(0, |t| t.lines().count())
}

fn count_runs(marker: &Path, uri: &str, extra: &[&str], code: i32) -> crate::util::Ran {
    let inputs = json!({ "marker": marker }).to_string();
    let mut test = Test::run(&[
        "--spec",
        "fixtures/specs/run/count_runs.yaml",
        "--inputs",
        &inputs,
        "--result-uri",
        uri,
    ]);
    for arg in extra {
        test = test.arg(arg);
    }
    test.code(code).go()
}

#[test]
fn a_job_that_already_succeeded_is_not_run_again() {
    let store = workdir();
    let marker = store.path().join("marker");
    let uri = format!("{}/job/", file_uri(store.path()));
    let stored = store.path().join("job/results.json");

    let first = count_runs(&marker, &uri, &["--run-id", "first"], 0);
    assert_eq!(runs(&marker), 1);
    let digest = first.json()["inputs_digest"].clone();
    assert!(digest.as_str().unwrap().starts_with("sha256:"));

    // The same spec and inputs: the stored results, nothing run.
    let again = count_runs(&marker, &uri, &["--run-id", "second"], 0);
    assert_eq!(runs(&marker), 1);
    assert_eq!(again.json()["run_id"], "first");
    assert_eq!(again.json(), first.json());
    assert!(
        again.stderr.contains("already succeeded"),
        "{}",
        again.stderr
    );

    // --rerun runs it and replaces the results.
    count_runs(&marker, &uri, &["--run-id", "third", "--rerun"], 0);
    assert_eq!(runs(&marker), 2);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&stored).unwrap()).unwrap();
    assert_eq!(doc["run_id"], "third");
    assert_eq!(doc["inputs_digest"], digest);
}

#[test]
fn another_jobs_results_are_never_replaced_unasked() {
    let store = workdir();
    let marker = store.path().join("marker");
    let uri = format!("{}/job/", file_uri(store.path()));
    let stored = store.path().join("job/results.json");
    count_runs(&marker, &uri, &["--run-id", "first"], 0);
    let before = std::fs::read_to_string(&stored).unwrap();

    // Other inputs at the same prefix: refused, nothing run, nothing stored.
    let other = store.path().join("other-marker");
    let ran = count_runs(&other, &uri, &[], 64);
    assert_eq!(runs(&other), 0);
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), before);
    let message = redact(&ran.message(), &[store.path()]);
    insta::assert_snapshot!("results_of_another_job", message);
    // Nothing ran, so nothing is kept, and storing is not said to fail.
    assert!(
        !ran.stderr.contains("could not be stored"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("work directory kept"),
        "{}",
        ran.stderr
    );
    assert!(!ran.workdir().exists(), "{}", ran.workdir().display());

    // Another tool: refused too.
    let ran = Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        &uri,
    ])
    .code(64)
    .go();
    assert!(
        ran.message().contains("tool `count_runs`"),
        "{}",
        ran.message()
    );

    // --overwrite replaces them.
    count_runs(&other, &uri, &["--overwrite", "--run-id", "replaced"], 0);
    assert_eq!(runs(&other), 1);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&stored).unwrap()).unwrap();
    assert_eq!(doc["run_id"], "replaced");
}

#[test]
fn a_failed_job_is_retried_and_its_results_replaced() {
    let store = workdir();
    let uri = format!("{}/job/", file_uri(store.path()));
    let stored = store.path().join("job/results.json");
    // The first attempt fails: the marker's folder does not exist yet.
    let marker = store.path().join("later/marker");
    count_runs(&marker, &uri, &["--run-id", "attempt-1"], 2);
    std::fs::create_dir(store.path().join("later")).unwrap();
    count_runs(&marker, &uri, &["--run-id", "attempt-2"], 0);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&stored).unwrap()).unwrap();
    assert_eq!(
        (doc["ok"].clone(), doc["run_id"].clone()),
        (json!(true), json!("attempt-2"))
    );
}

/// A late attempt never replaces results.json written since it started.
fn late_attempt(uri: &str, env: &[(&'static str, String)]) {
    let data = workdir();
    let marker = data.path().join("marker");
    let inputs = json!({ "marker": marker, "secs": 3 }).to_string();
    let mut slow = crate::util::omni_std();
    slow.args([
        "run",
        "--spec",
        "fixtures/specs/run/count_runs.yaml",
        "--inputs",
        &inputs,
        "--result-uri",
        uri,
        "--workdir",
    ])
    .arg(data.path())
    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let slow = slow.spawn().unwrap();
    while runs(&marker) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Meanwhile another attempt of the same job finishes first.
    let quick = json!({ "marker": marker }).to_string();
    Test::run(&[
        "--spec",
        "fixtures/specs/run/count_runs.yaml",
        "--inputs",
        &quick,
        "--result-uri",
        uri,
        "--overwrite",
        "--run-id",
        "quick",
    ])
    .envs(env)
    .go();
    let late = crate::util::Ran::from_output(slow.wait_with_output().unwrap(), 74, true);
    assert!(
        late.message()
            .contains("another run wrote it since this one started"),
        "{}",
        late.message()
    );
}

#[test]
fn a_late_attempt_does_not_replace_newer_results_on_file_stores() {
    let store = workdir();
    late_attempt(&format!("{}/job/", file_uri(store.path())), &[]);
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("job/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["run_id"], "quick");
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn a_late_attempt_does_not_replace_newer_results_on_s3_and_azure() {
    for (env, prefix) in every_store("late/") {
        late_attempt(&prefix, &env);
        assert_eq!(
            read_json(&env, &format!("{prefix}results.json"))["run_id"],
            "quick"
        );
    }
}

/// A fresh Ed25519 key pair made by openssl, as a user would: (private,
/// public) PEM paths.
fn key_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let private = dir.join("key.pem");
    let public = dir.join("pub.pem");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            private.to_str().unwrap(),
        ],
        vec![
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        let status = std::process::Command::new("openssl")
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    }
    (private, public)
}

fn verify(uri: &str, key: Option<&Path>, code: i32) -> crate::util::Ran {
    let mut test = Test::new(&["verify", uri]);
    if let Some(key) = key {
        test = test.arg("--key").arg(key);
    }
    test.code(code).no_results().go()
}

#[test]
fn a_signed_run_verifies_until_something_is_changed() {
    let dir = workdir();
    let (private, public) = key_pair(dir.path());
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "signed content\n").unwrap();
    let prefix = dir.path().join("run");
    let uri = format!("{}/", file_uri(&prefix));
    Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &json!({ "f": input }).to_string(),
        "--result-uri",
        &uri,
    ])
    .env("OMNI_SIGNING_KEY_FILE", &private)
    .go();
    let envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(prefix.join("results.json.sig")).unwrap())
            .unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");

    let ran = verify(&uri, Some(&public), 0);
    let report = redact(&ran.stdout, &[dir.path()]);
    let key_id = envelope["signatures"][0]["keyid"]
        .as_str()
        .unwrap()
        .to_string();
    insta::assert_snapshot!("verified", report.replace(&key_id, "[keyid]"));
    // Without a key: the outputs are checked, the signature is not.
    let ran = verify(&uri, None, 0);
    assert!(ran.stdout.contains("not checked"), "{}", ran.stdout);

    // Another key: refused.
    let other = workdir();
    let (_, other_public) = key_pair(other.path());
    let ran = verify(&uri, Some(&other_public), 1);
    assert!(
        ran.stdout.contains("no signature verifies"),
        "{}",
        ran.stdout
    );

    // An output changed in the store.
    let output = prefix.join("outputs/copy/copy.bin");
    std::fs::write(&output, "changed content\n").unwrap();
    let ran = verify(&uri, Some(&public), 1);
    assert!(ran.stdout.contains("MISMATCH"), "{}", ran.stdout);
    std::fs::write(&output, "signed content\n").unwrap();
    verify(&uri, Some(&public), 0);

    // results.json changed in the store (a checksum edited to match a
    // changed output): its own digest no longer matches the signature.
    let results = prefix.join("results.json");
    let text = std::fs::read_to_string(&results).unwrap();
    std::fs::write(&results, text.replace("\"ok\": true", "\"ok\": true ")).unwrap();
    let ran = verify(&uri, Some(&public), 1);
    assert!(
        ran.stdout.contains("results.json was changed"),
        "{}",
        ran.stdout
    );
}

#[test]
fn verify_says_what_is_missing() {
    let dir = workdir();
    let (_, public) = key_pair(dir.path());
    let absent = format!("{}/nothing/", file_uri(dir.path()));
    let ran = verify(&absent, None, 66);
    assert!(
        ran.stderr.contains("there is no results.json"),
        "{}",
        ran.stderr
    );

    // An unsigned run passes without a key, and fails with one.
    let uri = format!("{}/unsigned/", file_uri(dir.path()));
    Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        &uri,
    ])
    .go();
    verify(&uri, None, 0);
    let ran = verify(&uri, Some(&public), 1);
    assert!(ran.stdout.contains("not signed"), "{}", ran.stdout);

    // A signing key needs somewhere to store what it signs, and must be one.
    let key = dir.path().join("key.pem");
    Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--sign-key",
        key.to_str().unwrap(),
    ])
    .code(64)
    .no_results()
    .stderr_has("give a result URI too")
    .go();
    Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        &uri,
        "--sign-key",
        public.to_str().unwrap(),
    ])
    .code(64)
    .no_results()
    .stderr_has("this is a public key; signing needs the private key")
    .go();
}

#[test]
#[ignore = "needs the test venv with cryptography (. .ci/stores.sh); run with --run-ignored all"]
fn a_signed_run_verifies_with_an_independent_implementation() {
    let python = crate::util::root().join(".ci/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: . .ci/stores.sh",
        python.display()
    );
    let dir = workdir();
    let (private, public) = key_pair(dir.path());
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "independent\n").unwrap();
    let prefix = dir.path().join("run");
    Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &json!({ "f": input }).to_string(),
        "--result-uri",
        &format!("{}/", file_uri(&prefix)),
        "--sign-key",
        private.to_str().unwrap(),
    ])
    .go();
    let check = |expect: bool| {
        let output = std::process::Command::new(&python)
            .arg(crate::util::root().join("tests/tools/dsse_verify.py"))
            .arg(&public)
            .arg(&prefix)
            .output()
            .unwrap();
        assert_eq!(
            output.status.success(),
            expect,
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    check(true);
    std::fs::write(prefix.join("outputs/copy/copy.bin"), "altered\n").unwrap();
    check(false);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn a_signed_run_on_s3_and_azure_verifies_until_an_object_is_changed() {
    let dir = workdir();
    let (private, public) = key_pair(dir.path());
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "in a cloud store\n").unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "something else\n").unwrap();
    for (env, uri) in every_store("signed/") {
        launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/copy.yaml",
                "--inputs",
                &json!({ "f": input }).to_string(),
                "--result-uri",
                &uri,
                "--sign-key",
                private.to_str().unwrap(),
            ],
            0,
        );
        let verify_there = |code: i32| {
            Test::new(&["verify", &uri, "--key", public.to_str().unwrap()])
                .envs(&env)
                .code(code)
                .no_results()
                .go()
        };
        verify_there(0);
        // Another, unsigned run replaces the output and results.json; the
        // signature still names the first ones.
        launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/copy.yaml",
                "--inputs",
                &json!({ "f": other }).to_string(),
                "--result-uri",
                &uri,
                "--overwrite",
            ],
            0,
        );
        let ran = verify_there(1);
        assert!(
            ran.stdout.contains("results.json was changed"),
            "{}",
            ran.stdout
        );
        assert!(
            ran.stdout.lines().any(|l| l.starts_with("MISMATCH")
                && l.contains("copy.bin")
                && l.contains("signed")),
            "{}",
            ran.stdout
        );
    }
}

#[test]
fn the_outputs_of_a_failed_tool_are_stored_when_asked() {
    let store = workdir();
    let run = |prefix: &str, extra: &[&str]| {
        let uri = format!("{}/{prefix}/", file_uri(store.path()));
        let mut test = Test::run(&[
            "--spec",
            "fixtures/specs/run/partial.yaml",
            "--result-uri",
            &uri,
        ]);
        for arg in extra {
            test = test.arg(arg);
        }
        (uri, test.code(3).go().json())
    };
    // By default a failed run stores results.json and logs only.
    let (_, doc) = run("plain", &[]);
    assert!(doc.get("partial").is_none());
    assert_eq!(doc["results"], json!({}));
    assert!(!store.path().join("plain/outputs").exists());

    let (uri, doc) = run("kept", &["--upload-on-failure"]);
    assert_eq!(doc["partial"], true);
    assert_eq!(doc["error"]["kind"], "tool_failed");
    assert_eq!(doc["results"]["said"], "working");
    assert_eq!(
        doc["results"]["part"]["location"],
        format!("{uri}outputs/part/part.txt")
    );
    assert!(doc["results"].get("never").is_none());
    let kept = std::fs::read_to_string(store.path().join("kept/outputs/part/part.txt")).unwrap();
    assert_eq!(kept, "half\n");
}
