//! A memory budget for rendering templates. minijinja bounds the number of
//! instructions a template may run (fuel) but not the memory it may take:
//! a loop that doubles a string reaches gigabytes in sixty steps, and an
//! allocation the system refuses aborts the whole process, leaving no
//! results.json.
//!
//! So templates render on a worker thread whose allocations are counted by
//! the process's allocator. When the worker goes over its budget, the
//! allocator parks it for good instead of letting the allocation happen;
//! the caller sees that and reports a clear error, and the run ends
//! normally, with its results.json. Other threads are never counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How much memory one rendering may hold at once.
pub const BUDGET: usize = 256 << 20;

thread_local! {
    /// The budget of this thread; 0: not counted.
    static LIMIT: Cell<usize> = const { Cell::new(0) };
    static USED: Cell<usize> = const { Cell::new(0) };
}

/// Set by a worker that went over its budget, just before it parks.
static TRIPPED: AtomicBool = AtomicBool::new(false);

fn charge(bytes: usize) {
    let limit = LIMIT.with(Cell::get);
    if limit == 0 {
        return;
    }
    let used = USED.with(|u| {
        let used = u.get().saturating_add(bytes);
        u.set(used);
        used
    });
    if used > limit {
        TRIPPED.store(true, Ordering::SeqCst);
        // Neither allocate (the system may refuse) nor unwind (an allocator
        // must not): this thread has nothing left to do.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn refund(bytes: usize) {
    if LIMIT.with(Cell::get) != 0 {
        USED.with(|u| u.set(u.get().saturating_sub(bytes)));
    }
}

/// The process's allocator: the system's, counting on budgeted threads.
pub struct Counting;

#[allow(unsafe_code)]
// SAFETY: every method forwards to the system allocator with the caller's
// own arguments, after bookkeeping that neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        // SAFETY: `ptr` came from this allocator, that is, from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        // SAFETY: `ptr` came from `System`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Why bounded work did not finish.
#[derive(Debug)]
pub enum Unfinished {
    /// It went over `BUDGET`.
    Exceeded,
    /// The worker could not start, or failed.
    Failed,
}

/// Runs `work` on a worker thread limited to `BUDGET` bytes.
pub fn bounded<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Unfinished> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("template".into())
        .spawn(move || {
            USED.with(|u| u.set(0));
            LIMIT.with(|l| l.set(BUDGET));
            let result = work();
            LIMIT.with(|l| l.set(0));
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Err(Unfinished::Failed);
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(result) => return Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if TRIPPED.swap(false, Ordering::SeqCst) {
                    return Err(Unfinished::Exceeded);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Unfinished::Failed);
            }
        }
    }
}
