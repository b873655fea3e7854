//! Execution: time limits, signals, orphans, and streaming large output.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::util::{Ran, Test, alive, omni_std, start_sleeper, workdir};

fn read_pid(workdir: &str) -> i32 {
    std::fs::read_to_string(format!("{workdir}/bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_time_limit_stops_the_tool_and_its_children() {
    let started = Instant::now();
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/sleep.yaml",
        "--inputs",
        r#"{"secs": 60}"#,
        "--timeout",
        "1",
        "--keep-workdir",
    ])
    .code(124)
    .go();
    assert!(started.elapsed() < Duration::from_secs(20));
    let doc = ran.json();
    assert_eq!(doc["error"]["kind"], "timeout");
    assert_eq!(
        doc["error"]["message"],
        "time limit of 1 s reached; the tool was stopped"
    );
    assert!(
        !alive(read_pid(doc["workdir"].as_str().unwrap())),
        "a background child survived"
    );
}

#[test]
fn the_time_limit_comes_from_resources_too() {
    Test::run(&[
        "--spec",
        "fixtures/specs/run/sleep.yaml",
        "--inputs",
        r#"{"secs": 60}"#,
        "--resources",
        r#"{"time_limit_s": 1}"#,
    ])
    .code(124)
    .go();
}

#[test]
fn sigterm_is_forwarded_and_leaves_no_orphans() {
    let base = workdir();
    let (mut child, bg) = start_sleeper(base.path(), "term");
    assert!(alive(bg));
    crate::util::sigterm(&child);
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(143));
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["kind"], "signalled");
    assert_eq!(
        doc["error"]["message"],
        "the launcher received SIGTERM and stopped the run"
    );
    assert!(!alive(bg), "a background child survived SIGTERM");
}

#[test]
fn a_gib_of_stdout_streams_with_flat_memory() {
    let base = workdir();
    let output = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/big_stdout.yaml",
            "--inputs",
            r#"{"mib": 1024}"#,
            "--keep-workdir",
            "--workdir",
        ])
        .arg(base.path())
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let ran = Ran::from_output(output, 0, true);
    assert_eq!(std::fs::metadata(ran.tool_stdout()).unwrap().len(), 1 << 30);
    // Peak RSS of the launcher (the largest child this test process reaped).
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    assert!(
        usage.max_rss() < 64 * 1024,
        "peak RSS {} KiB",
        usage.max_rss()
    );
}

#[test]
fn usage_is_measured() {
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/big_stdout.yaml",
        "--inputs",
        r#"{"mib": 64}"#,
    ])
    .go();
    let usage = &ran.json()["usage"];
    assert!(usage["max_rss_kb"].as_i64().unwrap() > 0);
    assert!(usage["user_s"].as_f64().is_some());
    assert!(usage["sys_s"].as_f64().is_some());
}

#[test]
fn the_echo_through_a_pipe_or_into_a_file_is_whole() {
    // The launcher's stderr is a pipe here (the test reads it): the echo
    // goes in pieces the pipe takes at once, and none is lost.
    let output = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/big_stdout.yaml",
            "--inputs",
            r#"{"mib": 3}"#,
        ])
        .output()
        .unwrap();
    let echoed = output.stderr.iter().filter(|&&b| b == 0).count();
    assert_eq!(echoed, 3 << 20);
    Ran::from_output(output, 0, true);

    // A regular file takes every write at once: written straight through.
    let dir = workdir();
    let log = dir.path().join("stderr.log");
    let status = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/big_stdout.yaml",
            "--inputs",
            r#"{"mib": 3}"#,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let kept = std::fs::read(&log).unwrap();
    assert_eq!(kept.iter().filter(|&&b| b == 0).count(), 3 << 20);
}

#[test]
fn a_launcher_stderr_nobody_reads_holds_the_tool_not_the_time_limit() {
    // Nobody reads the launcher's stderr for five seconds: the echo stops
    // with that pipe full, the tool's own pipe fills and the tool waits;
    // the one-second time limit still stops it on time (the launcher's own
    // last words then wait for the reader, like any program's).
    let started = Instant::now();
    let mut child = omni_std()
        .args([
            "run",
            "--spec",
            "fixtures/specs/run/big_stdout.yaml",
            "--inputs",
            r#"{"mib": 64}"#,
            "--timeout",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        std::io::copy(&mut stderr, &mut std::io::sink()).unwrap()
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(status.code(), Some(124), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "timeout");
    // Stopped on time, not when the reader came back.
    let took = doc["duration_s"].as_f64().unwrap();
    assert!(took < 4.0, "the run took {took} s");
}

#[test]
fn a_program_is_found_and_run_as_execvp_would() {
    use std::os::unix::fs::PermissionsExt;
    let dirs = workdir();
    let (first, second) = (dirs.path().join("a"), dirs.path().join("b"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    // Not executable: skipped, as execvp skips it, for the next one.
    std::fs::write(first.join("omni-path-tool"), "exit 3\n").unwrap();
    // Executable, without a `#!` line: run by /bin/sh, as execvp does.
    let script = second.join("omni-path-tool");
    std::fs::write(&script, "printf 'script:%s' \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", first.display(), second.display());
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/path_tool.yaml",
        "--inputs",
        r#"{"text": "a b;c"}"#,
    ])
    .env("PATH", &path)
    .go();
    assert_eq!(ran.json()["results"]["out"], "script:a b;c");

    // Found nowhere: `not_found`, naming the program.
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/path_tool.yaml",
        "--inputs",
        r#"{"text": "x"}"#,
    ])
    .env("PATH", "/nonexistent")
    .code(127)
    .go();
    assert_eq!(ran.json()["error"]["kind"], "not_found", "{}", ran.stdout);

    // Found only where it cannot be run: `not_executable`, as execvp
    // reports EACCES when nothing else was found.
    let ran = Test::run(&[
        "--spec",
        "fixtures/specs/run/path_tool.yaml",
        "--inputs",
        r#"{"text": "x"}"#,
    ])
    .env("PATH", &first)
    .code(126)
    .go();
    assert_eq!(
        ran.json()["error"]["kind"],
        "not_executable",
        "{}",
        ran.stdout
    );
}
