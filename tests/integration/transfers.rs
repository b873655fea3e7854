//! Transfers at scale: uploads of any size within the stores' part limits,
//! memory bounded whatever the number and size of outputs.

use crate::servers::{Azurite, S3};
use crate::stores::{launch, read_file};
use crate::util::{Ran, Test, omni_std, workdir};

/// A 20 MiB output to a store that allows only 3 parts: the part size
/// grows to 7 MiB, and the bytes arrive whole.
fn few_parts(mut env: Vec<(&'static str, String)>, prefix: &str) {
    env.push(("S3_UPLOAD_PART_MIN_SIZE", (5 << 20).to_string()));
    env.push(("OMNI_MAX_UPLOAD_PARTS", "3".into()));
    let ran = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/big_file.yaml",
            "--inputs",
            r#"{"mib": 20}"#,
            "--result-uri",
            prefix,
        ],
        0,
    );
    let big = &ran.json()["results"]["big"];
    let copy = read_file(&env, big["location"].as_str().unwrap());
    assert_eq!(copy["size"], 20 << 20);
    assert_eq!(copy["sha256"], big["sha256"]);
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn a_part_limit_grows_the_parts_on_s3_and_azure() {
    let s3 = S3::new();
    few_parts(s3.env(&s3.endpoint), &s3.uri("few/"));
    let az = Azurite::new();
    few_parts(az.env(&az.url), &az.uri("few/"));
}

/// Four 160 MiB outputs uploaded four at a time stay within the budget.
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn several_large_outputs_upload_in_bounded_memory() {
    let s3 = S3::new();
    let base = workdir();
    let output = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/many_big_files.yaml",
            "--inputs",
            r#"{"count": 4, "mib": 160}"#,
            "--result-uri",
            &s3.uri("many/"),
            "--workdir",
        ])
        .arg(base.path())
        .envs(s3.env(&s3.endpoint))
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let ran = Ran::from_output(output, 0, true);
    let files = ran.json()["results"]["big"].as_array().unwrap().len();
    assert_eq!(files, 4);
    eprintln!("peak RSS of the launcher: {} KiB", {
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
            .unwrap()
            .max_rss()
    });
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    assert!(
        usage.max_rss() < 64 * 1024,
        "peak RSS {} KiB",
        usage.max_rss()
    );
}

/// Four 64 MiB inputs staged together, each in ranges, stay within the
/// range buffers: a range holds its buffer until it is written, so a slow
/// writer holds back the fetches instead of piling ranges up.
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn several_large_inputs_stage_in_bounded_memory() {
    let s3 = S3::new();
    let env = s3.env(&s3.endpoint);
    let stored = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/many_big_files.yaml",
            "--inputs",
            r#"{"count": 4, "mib": 64}"#,
            "--result-uri",
            &s3.uri("inputs/"),
        ],
        0,
    );
    let files = stored.json()["results"]["big"].clone();
    let locations: Vec<&serde_json::Value> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["location"])
        .collect();
    let inputs = serde_json::json!({ "fs": locations }).to_string();
    let staged = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/stage_many.yaml",
            "--inputs",
            &inputs,
        ],
        0,
    );
    let doc = staged.json();
    for (input, file) in doc["inputs"]["fs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(files.as_array().unwrap())
    {
        assert_eq!(input["sha256"], file["sha256"]);
        assert_eq!(input["size"], 64 << 20);
    }
    // The larger of the two launchers (the upload one stays under 64 MiB:
    // `several_large_outputs_upload_in_bounded_memory`). Four objects hold
    // at most eight 8 MiB range buffers (one per slot, one more each), and
    // this debug build needs some 20 MiB of its own: about 91 MiB in all
    // (156 MiB when ranges piled up in front of the writers).
    let peak = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap()
        .max_rss();
    eprintln!("peak RSS of the launcher: {peak} KiB");
    assert!(peak < 112 * 1024, "peak RSS {peak} KiB");
}

/// The names in a Directory object's listing, nested folders as `name/`.
fn names(dir: &serde_json::Value) -> Vec<String> {
    dir["listing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["class"].as_str() {
            Some("Directory") => format!("{}/", e["basename"].as_str().unwrap()),
            _ => e["basename"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn directory_outputs(env: Vec<(&'static str, String)>, prefix: &str) {
    let ran = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/tree.yaml",
            "--result-uri",
            prefix,
        ],
        0,
    );
    let doc = ran.json();
    let tree = &doc["results"]["tree"];
    assert_eq!(tree["class"], "Directory");
    assert_eq!(tree["location"], format!("{prefix}outputs/tree/out"));
    // Links inside a Directory output are not stored.
    assert_eq!(names(tree), ["a.txt", "sub/"]);
    let sub = &tree["listing"][1];
    assert_eq!(sub["location"], format!("{prefix}outputs/tree/out/sub"));
    assert_eq!(names(sub), ["b.txt", "deeper/"]);
    let c = &sub["listing"][1]["listing"][0];
    assert_eq!(
        c["location"],
        format!("{prefix}outputs/tree/out/sub/deeper/c.txt")
    );
    assert_eq!(c["size"], 2);
    let all: Vec<&str> = doc["results"]["all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["basename"].as_str().unwrap())
        .collect();
    assert_eq!(all, ["other", "out"]);

    // Every stored byte checks out, and the folder is a Directory input.
    Test::new(&["verify", prefix])
        .envs(&env)
        .no_results()
        .stdout_has("verified")
        .go();
    let inputs = serde_json::json!({ "d": tree["location"] }).to_string();
    let listed = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/listing.yaml",
            "--inputs",
            &inputs,
        ],
        0,
    );
    let dir = &listed.json()["inputs"]["d"];
    assert_eq!(dir["listing"], serde_json::json!(["a.txt", "sub"]));
}

#[test]
fn directory_outputs_are_stored_whole_on_file_stores() {
    let store = workdir();
    let prefix = format!(
        "{}/",
        url::Url::from_file_path(store.path())
            .unwrap()
            .as_str()
            .trim_end_matches('/')
    );
    directory_outputs(Vec::new(), &prefix);
    let c = store.path().join("outputs/tree/out/sub/deeper/c.txt");
    assert_eq!(std::fs::read_to_string(c).unwrap(), "c\n");
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn directory_outputs_are_stored_whole_on_s3_and_azure() {
    let s3 = S3::new();
    directory_outputs(s3.env(&s3.endpoint), &s3.uri("tree/"));
    let az = Azurite::new();
    directory_outputs(az.env(&az.url), &az.uri("tree/"));
}

/// `python3 -m http.server` serving `dir` on 127.0.0.1; stopped on drop.
struct WebServer {
    child: std::process::Child,
    url: String,
}

impl WebServer {
    fn serve(dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_style_inputs_are_staged_from_a_web_server_with_retries() {
    let site = workdir();
    let data = b">ref\nACGTACGTACGT\n".repeat(1000);
    std::fs::create_dir(site.path().join("refs")).unwrap();
    std::fs::write(site.path().join("refs/genome.fa"), &data).unwrap();
    let server = WebServer::serve(site.path());
    // The first two connections fail: the download is retried.
    let proxy = crate::proxy::Proxy::start(
        server.url.trim_start_matches("http://"),
        crate::proxy::Fault::Unavailable,
        2,
    );
    let uri = format!("{}/refs/genome.fa", proxy.url);
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &serde_json::json!({ "f": uri }).to_string(),
        "--keep-workdir",
    ])
    .go();
    assert_eq!(proxy.faults_left(), 0);
    let doc = ran.json();
    let input = &doc["inputs"]["f"];
    assert_eq!(input["location"], uri);
    assert_eq!(input["basename"], "genome.fa");
    assert_eq!(input["size"], data.len());
    use sha2::Digest;
    assert_eq!(input["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    let copied = std::fs::read(doc["results"]["copy"]["path"].as_str().unwrap()).unwrap();
    assert_eq!(copied, data);

    // A missing file is a missing input; a Directory cannot come from a web
    // server; plain http is for loopback only.
    let missing = serde_json::json!({ "f": format!("{}/refs/absent.fa", server.url) });
    Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &missing.to_string(),
    ])
    .code(66)
    .go();
    let dir = serde_json::json!({ "d": format!("{}/refs", server.url) });
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/listing.yaml",
        "--inputs",
        &dir.to_string(),
    ])
    .code(65)
    .go();
    insta::assert_snapshot!(
        "https_directory",
        ran.message().replace(&server.url, "[URL]")
    );
    let remote = serde_json::json!({ "f": "http://example.org/genome.fa" });
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/copy.yaml",
        "--inputs",
        &remote.to_string(),
    ])
    .code(65)
    .go();
    insta::assert_snapshot!("plain_http_elsewhere", ran.message());
}

/// A 40 MiB object comes down in ranges, a folder of 300 objects several
/// at once: the bytes are the stored ones, checksums recorded.
fn staging_at_scale(env: Vec<(&'static str, String)>, prefix: &str) {
    let big = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/many_big_files.yaml",
            "--inputs",
            r#"{"count": 1, "mib": 40}"#,
            "--result-uri",
            &format!("{prefix}big/"),
        ],
        0,
    );
    let stored = &big.json()["results"]["big"][0];
    let inputs = serde_json::json!({ "f": stored["location"] }).to_string();
    let copied = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/copy.yaml",
            "--inputs",
            &inputs,
        ],
        0,
    );
    let doc = copied.json();
    assert_eq!(doc["inputs"]["f"]["sha256"], stored["sha256"]);
    assert_eq!(doc["inputs"]["f"]["size"], 40 << 20);
    assert_eq!(doc["results"]["copy"]["sha256"], stored["sha256"]);

    let many = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/many_small.yaml",
            "--inputs",
            r#"{"count": 300}"#,
            "--result-uri",
            &format!("{prefix}many/"),
        ],
        0,
    );
    let folder = many.json()["results"]["many"]["location"].clone();
    let inputs = serde_json::json!({ "d": folder }).to_string();
    let listed = launch(
        &env,
        &[
            "--spec",
            "fixtures/specs/run/listing.yaml",
            "--inputs",
            &inputs,
            "--keep-workdir",
        ],
        0,
    );
    let doc = listed.json();
    assert_eq!(doc["inputs"]["d"]["listing"].as_array().unwrap().len(), 300);
    let staged = std::path::PathBuf::from(doc["inputs"]["d"]["path"].as_str().unwrap());
    for i in [1, 150, 300] {
        let text = std::fs::read_to_string(staged.join(format!("f-{i}.txt"))).unwrap();
        assert_eq!(text, format!("file {i}\n"));
    }
}

#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn large_objects_and_large_folders_stage_whole_from_s3_and_azure() {
    let s3 = S3::new();
    staging_at_scale(s3.env(&s3.endpoint), &s3.uri("scale/"));
    let az = Azurite::new();
    staging_at_scale(az.env(&az.url), &az.uri("scale/"));
}

/// Runs `omni-launch ARGS…` on a pseudo-terminal (util-linux `script`);
/// what the terminal showed.
fn on_a_terminal(env: &[(&str, String)], args: &[&str]) -> String {
    let line = std::iter::once(crate::util::BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let output = std::process::Command::new("script")
        .args([
            "--quiet",
            "--return",
            "--command",
            &format!("{line} >/dev/null"),
        ])
        .arg("/dev/null")
        .current_dir(crate::util::root())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs a command on a pseudo-terminal");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Transfers show their progress on a terminal, and only there: the bar
/// while bytes move, one summary line when done; `OMNI_PROGRESS=never`
/// and a stderr that is not a terminal keep the output as it was.
#[test]
#[ignore = "needs the test stores (. .ci/stores.sh); run with --run-ignored all"]
fn transfers_show_progress_on_a_terminal_only() {
    let s3 = S3::new();
    let mut env = s3.env(&s3.endpoint);
    // Shown at once, not after a second, so that a fast store shows it too.
    env.push(("OMNI_PROGRESS_DELAY_MS", "0".into()));
    let upload = |prefix: &str| {
        vec![
            "run".to_string(),
            "--spec".into(),
            "fixtures/specs/run/big_file.yaml".into(),
            "--inputs".into(),
            r#"{"mib": 12}"#.into(),
            "--result-uri".into(),
            s3.uri(prefix),
        ]
    };
    let args = upload("shown/");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let shown = on_a_terminal(&env, &args);
    assert!(shown.contains("storing outputs ["), "{shown}");
    assert!(
        shown.contains("omni-launch: storing outputs done: 12.00 MiB in"),
        "{shown}"
    );
    // Staging the same bytes back.
    let location = s3.uri("shown/outputs/big/big.bin");
    let inputs = format!(r#"{{"f": "{location}"}}"#);
    let staged = on_a_terminal(
        &env,
        &[
            "run",
            "--spec",
            "fixtures/specs/run/copy.yaml",
            "--inputs",
            &inputs,
        ],
    );
    assert!(staged.contains("staging inputs ["), "{staged}");
    assert!(
        staged.contains("omni-launch: staging inputs done: 12.00 MiB in"),
        "{staged}"
    );

    let mut never = env.clone();
    never.push(("OMNI_PROGRESS", "never".into()));
    let args = upload("never/");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let quiet = on_a_terminal(&never, &args);
    assert!(!quiet.contains("storing outputs"), "{quiet}");
    assert!(quiet.contains("results stored at"), "{quiet}");

    let args = upload("piped/");
    let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let ran = launch(&env, &args, 0);
    assert!(!ran.stderr.contains("storing outputs"), "{}", ran.stderr);
}
