//! One test per bug that was found and fixed, named after the bug, so that
//! it cannot come back unnoticed.

use crate::util::Test;

/// `--runner k8s` used to create a work directory and fail later with a
/// results.json; an unknown runner is a bad command line, refused by clap
/// before anything happens.
#[test]
fn an_unknown_runner_is_refused_before_any_work() {
    Test::new(&["run", "echo_test", "--runner", "k8s"])
        .code(64)
        .no_results()
        .stderr_has("[possible values: local]")
        .go();
}
