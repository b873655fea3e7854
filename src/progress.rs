//! Progress of the transfers a run makes, on a terminal: one line per
//! phase (staging inputs, storing outputs) with the bytes moved, the total
//! known so far, the rate and the time left. Shown only when stderr is a
//! terminal and a phase has lasted longer than `OMNI_PROGRESS_DELAY_MS`
//! (default 1000), so that quick runs and logs stay as they are; never with
//! `OMNI_PROGRESS=never` or `OMNI_LOG_FORMAT=json`. A phase that was shown
//! ends with one summary line.
//!
//! Ground floor: the object-store client reports bytes here, the stages
//! open and close phases; it knows neither.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The phase in progress, if any is being tracked.
static CURRENT: Mutex<Option<Phase>> = Mutex::new(None);

/// Whether a phase is tracked: transfers skip the lock when not.
static ACTIVE: AtomicBool = AtomicBool::new(false);

struct Phase {
    what: &'static str,
    bar: ProgressBar,
    started: Instant,
    delay: Duration,
    shown: bool,
}

/// Starts a phase: transfers report to it until the guard is dropped.
/// Nothing is tracked when progress cannot be shown.
pub fn phase(what: &'static str) -> PhaseGuard {
    if wanted() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what);
        if let Ok(mut current) = CURRENT.lock() {
            ACTIVE.store(true, Ordering::Relaxed);
            *current = Some(Phase {
                what,
                bar,
                started: Instant::now(),
                delay: delay(),
                shown: false,
            });
        }
    }
    PhaseGuard(())
}

/// Ends its phase: a shown bar gives way to one summary line.
pub struct PhaseGuard(());

impl Drop for PhaseGuard {
    fn drop(&mut self) {
        if !ACTIVE.swap(false, Ordering::Relaxed) {
            return;
        }
        let Some(phase) = CURRENT.lock().ok().and_then(|mut c| c.take()) else {
            return;
        };
        if phase.shown {
            let done = phase.bar.position();
            let secs = phase.started.elapsed().as_secs_f64();
            phase.bar.finish_and_clear();
            let _ = writeln!(
                std::io::stderr().lock(),
                "omni-launch: {} done: {} in {secs:.1} s ({}/s)",
                phase.what,
                indicatif::BinaryBytes(done),
                indicatif::BinaryBytes((done as f64 / secs.max(0.001)) as u64),
            );
        }
    }
}

/// `bytes` more to move in the current phase.
pub fn expect(bytes: u64) {
    with_phase(|phase| phase.bar.inc_length(bytes));
}

/// `bytes` moved in the current phase.
pub fn advance(bytes: u64) {
    with_phase(|phase| {
        phase.bar.inc(bytes);
        if !phase.shown && phase.started.elapsed() >= phase.delay {
            phase.shown = true;
            phase
                .bar
                .set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            phase.bar.enable_steady_tick(Duration::from_millis(500));
        }
    });
}

fn with_phase(f: impl FnOnce(&mut Phase)) {
    if ACTIVE.load(Ordering::Relaxed)
        && let Ok(mut current) = CURRENT.lock()
        && let Some(phase) = current.as_mut()
    {
        f(phase);
    }
}

fn wanted() -> bool {
    std::env::var("OMNI_PROGRESS").map_or(true, |v| v != "never")
        && std::env::var("OMNI_LOG_FORMAT").map_or(true, |v| v != "json")
        && std::io::stderr().is_terminal()
}

fn delay() -> Duration {
    Duration::from_millis(
        std::env::var("OMNI_PROGRESS_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
    )
}
