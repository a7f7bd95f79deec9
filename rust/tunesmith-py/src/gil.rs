//! The one way long-running work leaves the GIL, and the thread-count knob.
//!
//! Every adapter that does real work calls [`detached`], so it is never
//! forgotten: the closure runs without the GIL (other Python threads proceed)
//! on tunesmith's own rayon pool. In a forked child (users call us from
//! `datasets.map(num_proc=N)`) a rayon pool inherited from the parent would have
//! no threads behind it, so work runs serially on the calling thread there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;

static REQUESTED_THREADS: AtomicUsize = AtomicUsize::new(0);
static POOL: Mutex<Option<(u32, usize, std::sync::Arc<rayon::ThreadPool>)>> = Mutex::new(None);
static PARENT_PID: OnceLock<u32> = OnceLock::new();

fn pool() -> Option<std::sync::Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    let parent = *PARENT_PID.get_or_init(|| pid);
    let want = REQUESTED_THREADS.load(Ordering::Relaxed);
    let mut guard = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, threads, pool)) = guard.as_ref() {
        if *owner == pid && *threads == want {
            return Some(pool.clone());
        }
    }
    if pid != parent && want == 0 {
        // Forked child without an explicit request: stay serial.
        return None;
    }
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(want)
        .thread_name(|i| format!("tunesmith-{i}"))
        .build()
        .ok()
        .map(std::sync::Arc::new)?;
    *guard = Some((pid, want, built.clone()));
    Some(built)
}

/// Run `work` without the GIL, on tunesmith's thread pool (serially in a forked child).
pub fn detached<T, F>(py: Python<'_>, work: F) -> T
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    py.detach(|| match pool() {
        Some(pool) => pool.install(work),
        None => {
            let serial = rayon::ThreadPoolBuilder::new().num_threads(1).build();
            match serial {
                Ok(p) => p.install(work),
                Err(_) => work(),
            }
        }
    })
}

/// Set the number of threads tunesmith's Rust code uses (0 = one per core).
#[pyfunction]
pub fn set_num_threads(n: usize) {
    REQUESTED_THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads tunesmith's Rust code will use.
#[pyfunction]
pub fn get_num_threads() -> usize {
    match pool() {
        Some(p) => p.current_num_threads(),
        None => 1,
    }
}
