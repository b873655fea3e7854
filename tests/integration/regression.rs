//! One test per bug that was found and fixed, named after the bug, so that
//! it cannot come back unnoticed. Each exercises the whole class the bug
//! belonged to, through the real binary.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::proxy::Proxy;
use crate::servers::{AZURITE_ACCOUNT, Azurite, S3, http};
use crate::stores::{every_store, launch, read_file};
use crate::util::{Ran, Test, alive, children, omni_std, signal, start_sleeper, workdir};

/// `--runner k8s` used to create a work directory and fail later with a
/// results.json; an unknown runner is a bad command line, refused by clap
/// before anything happens.
#[test]
fn an_unknown_runner_is_refused_before_any_work() {
    Test::new(&["run", "echo_test", "--runner", "k8s"])
        .code(64)
        .no_results()
        .stderr_has("[possible values: local, docker, podman]")
        .go();
}

/// The names the awkward_keys fixture writes.
const AWKWARD: &[&str] = &[
    "50%.txt",
    "a#1.txt",
    "q?.txt",
    "r~1",
    "sample[1].vcf",
    "sp ace.txt",
    "x#12",
    "ünï.txt",
];

/// Object keys used to be percent-encoded segment by segment
/// (`job~1` stored as `job%7E1`), so a location named a key that did not
/// hold the object: every output must land at exactly the key its
/// location names, on a `file://` prefix with awkward characters too.
#[test]
fn object_keys_are_raw_on_a_file_prefix() {
    let store = workdir();
    let prefix = store.path().join("job~1 #2");
    let uri = format!("{}/", url::Url::from_file_path(&prefix).unwrap());
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/awkward_keys.yaml",
        "--result-uri",
        &uri,
    ])
    .go();
    assert!(prefix.join("results.json").is_file(), "{}", ran.stderr);
    for (file, name) in ran.json()["results"]["out"]
        .as_array()
        .unwrap()
        .iter()
        .zip(AWKWARD)
    {
        let location = file["location"].as_str().unwrap();
        let path = url::Url::parse(location).unwrap().to_file_path().unwrap();
        assert_eq!(path, prefix.join("outputs/out").join(name));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), *name);
    }
}

/// The same on S3 and Azure; and a Directory prefix holding such keys
/// used to stage only some of them, silently: it must stage every one.
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn object_keys_are_raw_and_every_listed_object_stages() {
    for (env, prefix) in every_store("awk~1/") {
        let ran = launch(
            &env,
            &[
                "--spec",
                "fixtures/specs/run/awkward_keys.yaml",
                "--result-uri",
                &prefix,
            ],
            0,
        );
        let files = ran.json()["results"]["out"].as_array().unwrap().clone();
        assert_eq!(files.len(), AWKWARD.len());
        for (file, name) in files.iter().zip(AWKWARD) {
            let location = file["location"].as_str().unwrap();
            assert_eq!(location, format!("{prefix}outputs/out/{name}"));
            // Staged back by its location, byte for byte.
            assert_eq!(read_file(&env, location)["size"], name.len());
        }
        let inputs = json!({ "d": format!("{prefix}outputs/out") }).to_string();
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
        let names: Vec<String> = ran.json()["results"]["names"]
            .as_str()
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let mut expected: Vec<String> = AWKWARD.iter().map(|s| s.to_string()).collect();
        expected.sort();
        let mut names = names;
        names.sort();
        assert_eq!(names, expected);
    }
}

/// A staged prefix holding a key with an empty or `..` segment used to end
/// in a store error (75, "retry"): it is the input's fault (66).
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn unusable_keys_in_a_staged_prefix_are_input_errors() {
    let s3 = S3::new();
    for (i, bad) in ["dir//empty.txt", "dir/%2E%2E/up.txt"].iter().enumerate() {
        let key = format!("p{i}/{bad}");
        let status = http(&s3.endpoint, "PUT", &format!("/{}/{key}", s3.bucket), &[]);
        assert_eq!(status, 200, "cannot put {key}");
        let inputs = json!({ "d": s3.uri(&format!("p{i}/dir")) }).to_string();
        let ran = launch(
            &s3.env(&s3.endpoint),
            &[
                "--spec",
                "fixtures/specs/run/listing.yaml",
                "--inputs",
                &inputs,
            ],
            66,
        );
        assert_eq!(ran.json()["error"]["kind"], "input_missing");
    }
}

/// Permanent store errors (no such bucket or container, access refused, a
/// `file://` target that is not a directory, no credentials) used to exit
/// 75, telling Batch to retry what cannot succeed: they are
/// `store_failed`, 74, with a one-line reason.
#[test]
fn a_file_target_that_is_not_a_directory_is_a_permanent_failure() {
    let store = workdir();
    let file = store.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let uri = format!("file://{}/r/", file.display());
    let ran = Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        &uri,
    ])
    .code(74)
    .go();
    assert_eq!(ran.json()["error"]["kind"], "store_failed");
    assert!(!ran.message().contains('\n'));
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn missing_buckets_and_refused_keys_are_permanent_failures() {
    let s3 = S3::new();
    let ran = launch(
        &s3.env(&s3.endpoint),
        &[
            "echo_test",
            "--inputs",
            r#"{"text": "x"}"#,
            "--result-uri",
            "s3://no-such-bucket-omni-launch/r/",
        ],
        74,
    );
    let message = ran.message();
    assert!(message.contains("no such bucket"), "{message}");
    assert_eq!(ran.json()["results"]["echo"], "x");

    let az = Azurite::new();
    let wrong = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={};BlobEndpoint={}/{AZURITE_ACCOUNT};",
        "d3Jvbmc=", az.url
    );
    let ran = launch(
        &[("AZURE_STORAGE_CONNECTION_STRING", wrong)],
        &[
            "echo_test",
            "--inputs",
            r#"{"text": "x"}"#,
            "--result-uri",
            &az.uri("r/"),
        ],
        74,
    );
    assert_eq!(ran.json()["error"]["kind"], "store_failed");
}

/// Without credentials the launcher used to dump the metadata service's
/// answer after minutes of retries; it says plainly that none were found.
/// (The metadata service is the one part mocked: a closed loopback port.)
#[test]
fn no_credentials_are_a_plain_permanent_failure() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ran = Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        "s3://bucket/r/",
    ])
    .env("AWS_METADATA_ENDPOINT", format!("http://{closed}"))
    .env("AWS_ENDPOINT_URL", format!("http://{closed}"))
    .env("AWS_EC2_METADATA_DISABLED", "false")
    .env("OMNI_STORE_RETRY_TIMEOUT_S", "2")
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
    .code(74)
    .go();
    assert!(
        ran.message().contains("no AWS credentials found"),
        "{}",
        ran.message()
    );
}

/// Retries used to give up after a few seconds whatever the budget said:
/// an outage shorter than the budget is survived.
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn a_store_outage_shorter_than_the_retry_budget_is_survived() {
    let s3 = S3::new();
    let proxy = Proxy::outage(&s3.endpoint, Duration::from_secs(6));
    let started = Instant::now();
    let ran = Test::run(&[
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        &s3.uri("outage/"),
    ])
    .envs(&s3.env(&proxy.url))
    .go();
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{}",
        ran.stderr
    );
}

/// The moto server's multipart uploads that were started and never
/// completed or aborted.
fn open_uploads(s3: &S3) -> usize {
    let authority = s3.endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /{}?uploads HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n",
        s3.bucket
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.matches("<UploadId>").count()
}

/// A signal during a multipart upload used to leave its parts on the
/// store, billed and invisible; the time limit was not even looked at
/// during uploads. Both now stop the run, abort the upload and leave
/// results.json saying why.
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh)"]
fn a_stopped_upload_is_aborted() {
    let s3 = S3::new();
    // 40 MiB through a 10 MiB/s link: a few seconds of upload.
    let proxy = Proxy::throttled(&s3.endpoint, 10 << 20);
    let env: Vec<(&str, String)> = s3
        .env(&proxy.url)
        .into_iter()
        .chain([("S3_UPLOAD_PART_MIN_SIZE", (5 << 20).to_string())])
        .collect();
    // The time limit during the upload.
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/big_file.yaml",
        "--inputs",
        r#"{"mib": 40}"#,
        "--timeout",
        "2",
        "--result-uri",
        &s3.uri("limit/"),
    ])
    .envs(&env)
    .code(124)
    .go();
    assert_eq!(ran.json()["error"]["kind"], "timeout");
    assert_eq!(open_uploads(&s3), 0, "a multipart upload was left open");
    // SIGTERM during the upload.
    let base = workdir();
    let child = omni_std()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/big_file.yaml",
            "--inputs",
            r#"{"mib": 40}"#,
            "--result-uri",
            &s3.uri("term/"),
            "--workdir",
        ])
        .arg(base.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, nix::sys::signal::Signal::SIGTERM);
    let ran = Ran::from_output(child.wait_with_output().unwrap(), 143, true);
    assert_eq!(ran.json()["error"]["kind"], "signalled");
    assert_eq!(open_uploads(&s3), 0, "a multipart upload was left open");
}

/// When the tool failed and then the store failed too, the tool's exit
/// status used to be lost: results.json keeps it as the error's
/// `previous`, and the exit code is the store's.
#[test]
fn a_tool_failure_is_kept_when_the_store_fails_too() {
    let store = workdir();
    let file = store.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let uri = format!("file://{}/r/", file.display());
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/exit_code.yaml",
        "--inputs",
        r#"{"code": 3}"#,
        "--result-uri",
        &uri,
    ])
    .code(74)
    .go();
    let error = &ran.json()["error"];
    assert_eq!(error["kind"], "store_failed");
    assert_eq!(error["previous"]["kind"], "tool_failed");
    assert_eq!(error["previous"]["exit_code"], 3);
}

/// A work directory that cannot be created used to be a usage error with
/// nothing stored; results.json now reaches the store, kind `environment`.
#[test]
fn a_work_directory_that_cannot_be_made_still_stores_results() {
    let base = workdir();
    let blocker = base.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let store = workdir();
    let uri = format!("file://{}/r/", store.path().display());
    let ran = Test::new(&[
        "run",
        "echo_test",
        "--inputs",
        r#"{"text": "x"}"#,
        "--result-uri",
        &uri,
        "--workdir",
    ])
    .arg(blocker.join("below"))
    .code(73)
    .go();
    assert_eq!(ran.json()["error"]["kind"], "environment");
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("r/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored["error"]["kind"], "environment");
}

/// The launcher wrote results.json into the work directory, over a tool
/// output of the same name (whose checksum then no longer matched).
#[test]
fn a_tool_output_called_results_json_is_never_overwritten() {
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/own_results.yaml",
        "--keep-workdir",
    ])
    .go();
    let doc = &ran.json()["results"]["doc"];
    let path = doc["path"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(path).unwrap(), r#"{"mine": true}"#);
    assert_eq!(doc["size"], 14);
    let kept = ran.workdir().join(".omni-launch/results.json");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), ran.stdout);
}

/// A tool that swapped the launcher's folder for a link could make the
/// launcher write results.json (and read logs) elsewhere.
#[test]
fn a_swapped_launcher_folder_does_not_redirect_writes() {
    let elsewhere = workdir();
    let inputs = json!({ "elsewhere": elsewhere.path() }).to_string();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/swap_meta.yaml",
        "--inputs",
        &inputs,
    ])
    .go();
    assert_eq!(ran.json()["results"]["out"], "done");
    let leaked: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
    assert!(
        leaked.is_empty(),
        "the launcher wrote through the link: {leaked:?}"
    );
}

/// A value output that is a FIFO hung the launcher forever, past the time
/// limit and SIGTERM; one that is a link was read through.
#[test]
fn value_outputs_read_only_regular_files_and_never_block() {
    let started = Instant::now();
    let ran = Test::run(&["--spec", "fixtures/specs/run/fifo_value.yaml"])
        .code(70)
        .go();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        ran.message().contains("not a regular file"),
        "{}",
        ran.message()
    );
    let ran = Test::run(&["--spec", "fixtures/specs/run/link_value.yaml"])
        .code(70)
        .go();
    assert_eq!(ran.json()["error"]["kind"], "output_missing");
}

/// `**` followed directory links: `a -> .` returned one file dozens of
/// times and two links walked without end; a file name that is not UTF-8
/// made the glob library panic.
#[test]
fn globs_follow_no_directory_links_and_take_any_name() {
    let ran = Test::run(&["--spec", "fixtures/specs/run/link_loops.yaml"]).go();
    let names: Vec<String> = ran.json()["results"]["all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["basename"].as_str().unwrap().to_string())
        .collect();
    // Sorted by path: d/e/g, d/f; d/alias and the links to folders add nothing.
    assert_eq!(names, ["g", "f"]);
    let ran = Test::run(&["--spec", "fixtures/specs/run/odd_name.yaml"]).go();
    assert_eq!(ran.json()["results"]["all"].as_array().unwrap().len(), 1);
}

/// A process that escaped the tool's group (`setsid`) and kept stdout open
/// held the launcher until it ended; it also outlived the run.
#[test]
fn an_escaped_descendant_neither_holds_nor_outlives_the_run() {
    let started = Instant::now();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/escaped.yaml",
        "--keep-workdir",
    ])
    .go();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(ran.json()["results"]["out"], "started");
    let pid: i32 = std::fs::read_to_string(ran.workdir().join("esc.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the escaped process {pid} outlived the run");
}

/// SIGHUP and SIGQUIT used to kill the launcher outright, leaving the tool
/// running and no results.json; they stop the run as SIGTERM does.
#[test]
fn sighup_and_sigquit_stop_the_run_like_sigterm() {
    for (sig, code) in [
        (nix::sys::signal::Signal::SIGHUP, 129),
        (nix::sys::signal::Signal::SIGQUIT, 131),
    ] {
        let base = workdir();
        let (child, bg) = start_sleeper(base.path(), "hup");
        assert!(alive(bg));
        signal(&child, sig);
        let ran = Ran::from_output(child.wait_with_output().unwrap(), code, true);
        assert_eq!(ran.json()["error"]["kind"], "signalled");
        assert!(!alive(bg), "{sig}: a background child survived");
    }
}

/// A launcher killed outright (SIGKILL, the OOM killer) left its tool
/// running: the tool's process gets a parent-death signal.
#[test]
fn a_killed_launcher_takes_its_tool_along() {
    let base = workdir();
    let mut child = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/argv_sleep.yaml",
            "--inputs",
            r#"{"secs": 60}"#,
            "--workdir",
        ])
        .arg(base.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let launcher = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let tool = loop {
        let found = children(launcher);
        if let Some(pid) = found.first() {
            break *pid;
        }
        assert!(Instant::now() < deadline, "the tool never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    signal(&child, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(tool) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(tool), "the tool {tool} outlived its launcher");
}

/// A closed stderr made the launcher panic or change its exit code.
#[test]
fn a_closed_stderr_changes_nothing() {
    let base = workdir();
    let mut child = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/big_stdout.yaml",
            "--inputs",
            r#"{"mib": 4}"#,
            "--workdir",
        ])
        .arg(base.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["ok"], true);
}

/// `--timeout 0` and `time_limit_s: 0` did not mean the same thing.
#[test]
fn a_zero_time_limit_means_no_limit() {
    for (flag, resources) in [("0", "{}"), ("", r#"{"time_limit_s": 0}"#)] {
        let mut args = vec![
            "--spec",
            "fixtures/specs/run/sleep.yaml",
            "--inputs",
            r#"{"secs": 1}"#,
            "--resources",
            resources,
        ];
        if !flag.is_empty() {
            args.extend(["--timeout", flag]);
        }
        Test::run(&args).go();
    }
}

/// A command too long for the kernel failed as `not_executable`: it is the
/// inputs' fault (65), and the message names the limit.
#[test]
fn a_command_too_long_for_the_kernel_is_invalid_input() {
    // Given as files: such documents are too long for a command line too.
    let dir = workdir();
    let long = dir.path().join("long.json");
    std::fs::write(&long, json!({ "s": "x".repeat(200_000) }).to_string()).unwrap();
    let at = format!("@{}", long.display());
    let ran = Test::run(&["--spec", "fixtures/specs/run/printf.yaml", "--inputs", &at])
        .code(65)
        .go();
    assert!(
        ran.message().contains("at most 131071 bytes"),
        "{}",
        ran.message()
    );
    let many = dir.path().join("many.json");
    let items: Vec<String> = (0..20_000).map(|i| format!("item-{i}")).collect();
    std::fs::write(&many, json!({ "items": items }).to_string()).unwrap();
    let at = format!("@{}", many.display());
    Test::run(&[
        "--spec",
        "fixtures/specs/run/print_many.yaml",
        "--inputs",
        &at,
    ])
    .code(65)
    .go();
}

/// `usage` was the launcher's whole RUSAGE_CHILDREN, which inherits across
/// `exec`: after `cargo run` it reported the compiler's gigabytes. It is
/// the tool's own, from `wait4`.
#[test]
fn usage_is_the_tools_own() {
    let base = workdir();
    // A parent that ran a 300 MB process, then became the launcher.
    let script = format!(
        "python3 -c 'x = bytearray(300 * 1024 * 1024); x[::4096] = b\"y\" * len(x[::4096])' && exec {} run echo_test --inputs '{{\"text\": \"x\"}}' --workdir {}",
        crate::util::BIN,
        base.path().display()
    );
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(crate::util::root())
        .output()
        .unwrap();
    let ran = Ran::from_output(output, 0, true);
    let rss = ran.json()["usage"]["max_rss_kb"].as_i64().unwrap();
    assert!(rss < 100_000, "max_rss_kb {rss} is not the tool's");
}

/// A contract variable that is not UTF-8 was silently ignored: with a bad
/// INPUTS_JSON the defaults ran and the job "succeeded".
#[test]
fn a_contract_variable_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"{\"text\": \"\xff\"}");
    for var in ["INPUTS_JSON", "RUN_ID", "TOOL_ID"] {
        Test::run(&["--spec", "tool-specs/echo_test.yaml"])
            .env(var, bad)
            .code(64)
            .no_results()
            .stderr_has(&format!("{var} is not valid UTF-8"))
            .go();
    }
}

/// A key given twice in INPUTS_JSON silently took the last value; `-0`
/// was refused as an int; an `@file` that is not UTF-8 was a usage error
/// without results.json.
#[test]
fn contract_documents_are_read_strictly() {
    let ran = Test::run(&[
        "--spec",
        "tool-specs/echo_test.yaml",
        "--inputs",
        r#"{"text": "a", "text": "b"}"#,
    ])
    .code(65)
    .go();
    assert!(ran.message().contains("given twice"), "{}", ran.message());
    Test::run(&[
        "--spec",
        "tool-specs/echo_test.yaml",
        "--inputs",
        r#"{"text": "a"}"#,
        "--resources",
        r#"{"cpu": 1, "cpu": 2}"#,
    ])
    .code(65)
    .go();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/exit_code.yaml",
        "--inputs",
        r#"{"code": -0}"#,
    ])
    .go();
    assert_eq!(ran.json()["inputs"]["code"], 0);
    let dir = workdir();
    let file = dir.path().join("inputs.json");
    std::fs::write(&file, b"{\"text\": \"\xff\xfe\"}").unwrap();
    let ran = Test::run(&["echo_test", "--inputs", &format!("@{}", file.display())])
        .code(65)
        .go();
    assert!(ran.message().contains("not UTF-8"), "{}", ran.message());
}

/// `1e-30` came back as `1e-30` in results.json but rendered as thirty
/// zeros and a one; large and small floats keep their value both ways.
#[test]
fn floats_keep_their_value() {
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/floats.yaml",
        "--inputs",
        r#"{"x": 1e-30, "n": 7}"#,
    ])
    .go();
    let doc = ran.json();
    assert_eq!(doc["results"]["out"], "1e-30 7");
    assert_eq!(doc["command"], "printf '%s %s\\n' '1e-30' '7'");
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/floats.yaml",
        "--inputs",
        r#"{"x": 0.30000000000000004, "n": 0}"#,
    ])
    .go();
    assert_eq!(ran.json()["results"]["out"], "0.30000000000000004 0");
    assert_eq!(
        ran.json()["inputs"]["x"].as_f64(),
        Some(0.30000000000000004)
    );
}

/// A part size outside S3's limits surfaced only after the tool ran, as a
/// store error; it is refused up front.
#[test]
fn a_part_size_outside_the_stores_limits_is_refused_up_front() {
    for size in ["1", "6000000000", "lots"] {
        Test::run(&[
            "echo_test",
            "--inputs",
            r#"{"text": "x"}"#,
            "--result-uri",
            "s3://bucket/r/",
        ])
        .env("S3_UPLOAD_PART_MIN_SIZE", size)
        .code(64)
        .no_results()
        .stderr_has("S3_UPLOAD_PART_MIN_SIZE")
        .go();
    }
}

/// `validate /dev/zero` read without end, a FIFO spec hung `list`, and
/// `--inputs @/dev/zero` likewise: only bounded regular files are read.
#[test]
fn only_bounded_regular_files_are_read() {
    let started = Instant::now();
    let ran = Test::new(&["validate", "/dev/zero"]).code(78).go();
    assert!(ran.stdout.contains("not a regular file"), "{}", ran.stdout);
    Test::new(&[
        "validate",
        "tool-specs/echo_test.yaml",
        "--inputs",
        "@/dev/zero",
    ])
    .code(64)
    .go();
    let dir = workdir();
    nix::unistd::mkfifo(&dir.path().join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::copy(
        "tool-specs/echo_test.yaml",
        dir.path().join("echo_test.yaml"),
    )
    .unwrap();
    let specs = dir.path().display().to_string();
    let ran = Test::new(&["list", "--specs-dir", &specs]).code(78).go();
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("echo_test ") && l.contains("echo_test.yaml")),
        "{}",
        ran.stdout
    );
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, "#".repeat(5 << 20)).unwrap();
    Test::new(&["validate"]).arg(&big).code(78).go();
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// A template that doubled a string until memory ran out aborted the
/// whole process, leaving no results.json.
#[test]
fn template_memory_is_bounded() {
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/doubling.yaml",
        "--inputs",
        r#"{"s": "ab"}"#,
    ])
    .code(78)
    .go();
    assert!(ran.message().contains("MiB of memory"), "{}", ran.message());
}

/// An input written as `name:` with nothing under it validated and then
/// failed every run; attributes a File does not have, unknown filters and
/// tests, and loading other templates passed validate the same way.
#[test]
fn validate_finds_what_would_fail_every_run() {
    for fixture in ["empty_entries", "template_names"] {
        let ran = Test::new(&[
            "validate",
            &format!("fixtures/specs/invalid/{fixture}.yaml"),
        ])
        .code(78)
        .go();
        assert!(ran.stdout.contains("problem"), "{}", ran.stdout);
    }
}

/// A spec key with a newline forged a `::error::` annotation, or any line,
/// in validate's text output.
#[test]
fn validate_output_escapes_control_characters() {
    let dir = workdir();
    let spec = dir.path().join("forge.yaml");
    std::fs::write(
        &spec,
        "id: x\ninputs:\n  \"a\\n::error file=x::forged\": {type: int}\ncommand: \"true\"\n",
    )
    .unwrap();
    for format in ["text", "github"] {
        let ran = Test::new(&["validate", "--format", format])
            .arg(&spec)
            .code(78)
            .go();
        assert!(
            !ran.stdout.lines().any(|l| l.starts_with("::error file=x")),
            "{}",
            ran.stdout
        );
    }
}

/// Single-quoting only protects a value in an unquoted word: `echo "Hi
/// {{ name }}"`, a here-document and `sh -c '… {{ x }} …'` all ran `$(…)`
/// from an input, and validate said nothing. Every place the shell allows
/// a value is quoted for that place; every other place is refused by
/// validate with its template line and column.
#[test]
fn values_are_quoted_for_the_place_they_land_in() {
    let hostile = "a $(touch pwned) `touch pwned` \"q\" 'x' \\ $HOME\n;|&<>*";
    let inputs = json!({ "s": hostile }).to_string();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/contexts.yaml",
        "--inputs",
        &inputs,
        "--keep-workdir",
    ])
    .go();
    let expected = format!(
        "[{h}][{h}][<{h}>][{t}][{h}][{h}]\n[{h}]\n",
        h = hostile,
        t = hostile.trim_end_matches('\n')
    );
    assert_eq!(
        ran.json()["results"]["out"],
        expected.trim_end_matches('\n')
    );
    assert!(!ran.workdir().join("pwned").exists(), "a value ran");
    // Where no quoting helps, validate refuses the spec, naming each place.
    for fixture in ["shell_contexts", "argv_code"] {
        let ran = Test::new(&[
            "validate",
            &format!("fixtures/specs/invalid/{fixture}.yaml"),
        ])
        .code(78)
        .go();
        assert!(ran.stdout.contains("is not allowed"), "{}", ran.stdout);
    }
    // A value that would end a here-document early is the input's fault.
    let inputs = json!({ "s": "x\nEOF\ntouch pwned" }).to_string();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/contexts.yaml",
        "--inputs",
        &inputs,
    ])
    .code(65)
    .go();
    assert!(
        ran.message().contains("delimiter `EOF`"),
        "{}",
        ran.message()
    );
}

/// A job-wide SIGTERM (scancel, docker stop) reaches the tool and the
/// launcher at once. When the tool's death was seen first, the launcher's
/// own SIGTERM cut the storing short (the tool's stderr neither stored nor
/// named) and a stored results.json was reported as not stored. Which one
/// comes first cannot be forced here (the Slurm test's scancel hits both);
/// this checks the tool's side: a tool ended by SIGTERM has everything
/// stored.
#[test]
fn a_sigterm_to_the_whole_job_still_stores_everything() {
    let dir = workdir();
    let spec = dir.path().join("job_term.yaml");
    // The tool ends itself and its launcher in one call, as Slurm does.
    std::fs::write(
        &spec,
        "id: job_term\ncommand: echo said-before >&2; kill -TERM $$ $PPID; sleep 5\noutputs: {}\n",
    )
    .unwrap();
    let store = workdir();
    let ran = Test::run(&["--spec", spec.to_str().unwrap()])
        .arg("--result-uri")
        .arg(format!("file://{}", store.path().display()))
        .code(143)
        .stderr_has("results stored at")
        .go();
    let results = ran.json();
    assert_eq!(results["error"]["kind"], "signalled");
    assert_eq!(
        std::fs::read_to_string(store.path().join("logs/stderr")).unwrap(),
        "said-before\n"
    );
    assert!(
        results["logs"]["stderr"].is_string(),
        "results.json names the stored stderr: {results}"
    );
    assert!(store.path().join("results.json").exists());
}

/// Snakemake creates a job's log file empty when the job ends (scancel)
/// before the launcher has stored its results.json there; the launcher
/// then refused to replace it ("another run wrote it") and the results
/// were lost. An empty results.json is no run's results: it is replaced.
#[test]
fn an_empty_results_json_at_the_target_is_replaced() {
    let dir = workdir();
    let store = workdir();
    let spec = dir.path().join("placeholder.yaml");
    std::fs::write(
        &spec,
        "id: placeholder\ninputs:\n  dir: {type: string}\n\
         command: ': > {{ dir }}/results.json'\noutputs: {}\n",
    )
    .unwrap();
    let inputs = serde_json::json!({"dir": store.path()}).to_string();
    Test::run(&["--spec", spec.to_str().unwrap(), "--inputs", &inputs])
        .arg("--result-uri")
        .arg(format!("file://{}", store.path().display()))
        .stderr_has("results stored at")
        .go();
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(stored["ok"], true, "{stored}");
    // Results that are not empty stay another run's: still refused.
    let other = workdir();
    let spec = dir.path().join("writes.yaml");
    std::fs::write(
        &spec,
        format!(
            "id: writes\ncommand: \"echo '{{}}' > {}/results.json\"\noutputs: {{}}\n",
            other.path().display()
        ),
    )
    .unwrap();
    let ran = Test::run(&["--spec", spec.to_str().unwrap()])
        .arg("--result-uri")
        .arg(format!("file://{}", other.path().display()))
        .code(74)
        .go();
    assert!(
        ran.stderr.contains("another run wrote it"),
        "{}",
        ran.stderr
    );
}

/// With each command's arguments built only when it is chosen (clap's
/// `defer`), a flattened group's doc comment became the `about` of `run`
/// and `render`.
#[test]
fn every_command_keeps_its_own_description() {
    let help = |args: &[&str]| {
        let out = crate::util::omni_std().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    for (command, about) in [
        ("run", "Run one job: validate inputs"),
        ("render", "Print the exact command a run would execute"),
        ("validate", "Check specs"),
    ] {
        let text = help(&[command, "--help"]);
        assert!(text.starts_with(about), "{command} --help:\n{text}");
        assert!(
            help(&["--help"]).contains(&format!("{command} ")),
            "{command} is not listed"
        );
    }
    assert!(!help(&["--help"]).contains("How a container runner"));
}
