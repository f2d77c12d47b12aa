//! Scheduling priority of the background threads that write the log.
//!
//! Building log records and writing them to the database is work no client waits for, so it
//! runs [`BACKGROUND_NICE`] steps below the threads that serve requests: when a request
//! arrives while a batch is being written, the kernel lets the request's thread run first,
//! and the batch goes on in the time between requests. Under sustained overload that time
//! runs out; the log queue's admission control ([`crate::logpipe::LogQueue::admit`]) then
//! holds new requests briefly so that the writer catches up instead of records being dropped.
//!
//! Two threads are lowered: the log writer (`switchyard-log`) lowers itself when it starts,
//! and the SQLite write connection's worker thread (named [`SQLITE_WRITER_THREAD`] by the
//! store) is found by name and lowered once the store is open. PostgreSQL does its work in
//! its own server processes. Only Linux is supported; elsewhere these calls do nothing.

/// How many nice steps the log threads run below the rest of the process.
pub const BACKGROUND_NICE: i32 = 10;

/// The name the SQLite store gives its write connection's worker thread.
pub use switchyard_store::sqlite::WRITER_THREAD_NAME as SQLITE_WRITER_THREAD;

/// Lowers the calling thread's priority by [`BACKGROUND_NICE`] (best effort).
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    lower(None);
}

/// Lowers every thread of this process whose name is `name` by [`BACKGROUND_NICE`];
/// how many were lowered.
pub fn lower_threads_named(name: &str) -> usize {
    #[cfg(target_os = "linux")]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        let mut lowered = 0;
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let tid = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw);
            if let Some(tid) = tid {
                if lower(Some(tid)) {
                    lowered += 1;
                }
            }
        }
        lowered
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
        0
    }
}

/// On Linux a "process" priority names one thread: `None` is the calling thread.
#[cfg(target_os = "linux")]
fn lower(tid: Option<rustix::process::Pid>) -> bool {
    let Ok(now) = rustix::process::getpriority_process(tid) else {
        return false;
    };
    let target = (now + BACKGROUND_NICE).min(19);
    match rustix::process::setpriority_process(tid, target) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "could not lower a log thread's priority");
            false
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn current_nice() -> i32 {
        rustix::process::getpriority_process(None).expect("getpriority")
    }

    #[test]
    fn lowers_only_the_calling_thread() {
        let before = current_nice();
        let lowered = std::thread::spawn(|| {
            let before = current_nice();
            lower_current_thread();
            (before, current_nice())
        })
        .join()
        .expect("thread");
        assert_eq!(lowered.1, (lowered.0 + BACKGROUND_NICE).min(19));
        assert_eq!(current_nice(), before, "other threads keep their priority");
    }

    #[test]
    fn lowers_threads_by_name() {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("sy-sched-test".into())
            .spawn(move || {
                let before = current_nice();
                ready_tx.send(()).expect("send");
                done_rx.recv().expect("recv");
                (before, current_nice())
            })
            .expect("spawn");
        ready_rx.recv().expect("ready");
        assert_eq!(lower_threads_named("sy-sched-test"), 1);
        assert_eq!(lower_threads_named("no-such-thread-name"), 0);
        done_tx.send(()).expect("send");
        let (before, after) = worker.join().expect("join");
        assert_eq!(after, (before + BACKGROUND_NICE).min(19));
    }
}
