//! Named failure points on the durability paths, for the crash and fault-injection suites
//! (`crates/hangar-reliability`). Without the `failpoints` feature, [`hit`] is an inlined
//! `Ok(())` and nothing here exists at run time; shipped builds never enable it.
//!
//! With the feature, a point does what its configured action says:
//! - `crash`: abort the process on the spot (no destructors, no flush: like `kill -9`);
//! - `enospc` / `eio`: fail the operation with that OS error (`Error::Io`);
//! - any action with `@N` (`crash@3`): only on the N-th hit of that point.
//!
//! Actions come from the environment variable `HANGAR_FAILPOINTS`
//! (`name=action,name=action`, read once per process) or from [`set`] in tests.

use crate::error::Result;

/// Every point, in the order a commit meets them (the suites cover each).
pub const POINTS: &[&str] = &[
    // staging: a durable per-sample write, a sealed segment
    "journal.after_append",
    "writeback.sync",
    "segment.before_seal_fsync",
    // commit, in hangar-store
    "commit.after_flush",
    "commit.after_seal",
    "commit.after_compress",
    "commit.after_pack",
    "commit.after_index_run",
    "commit.after_next_journal",
    // the publish step, in hangar-core: ref replaced atomically, then its reflog line
    "ref.before_write",
    "atomic.after_temp_fsync",
    "atomic.after_rename",
    "ref.after_write",
    // after the ref moved
    "commit.after_publish",
    "commit.after_journal_rename",
];

/// The points of `gc`, in the order it meets them.
pub const GC_POINTS: &[&str] = &[
    "gc.after_rewrite",
    "gc.after_index_run",
    "gc.after_first_delete",
];

/// Passes through point `name`: `Ok(())` unless an action is set for it.
#[inline(always)]
pub fn hit(name: &'static str) -> Result<()> {
    #[cfg(feature = "failpoints")]
    {
        imp::hit(name)
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
        Ok(())
    }
}

#[cfg(feature = "failpoints")]
pub use imp::{clear, hits, set};

#[cfg(feature = "failpoints")]
mod imp {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    use crate::error::{Error, Result};

    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Crash,
        Errno(i32),
    }

    #[derive(Debug, Default)]
    struct State {
        actions: HashMap<String, (Kind, Option<u64>)>,
        hits: HashMap<&'static str, u64>,
    }

    static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| {
        let mut st = State::default();
        if let Ok(spec) = std::env::var("HANGAR_FAILPOINTS") {
            for item in spec.split(',').filter(|s| !s.is_empty()) {
                if let Some((name, action)) = item.split_once('=') {
                    if let Some(a) = parse(action) {
                        st.actions.insert(name.to_string(), a);
                    } else {
                        eprintln!("HANGAR_FAILPOINTS: unknown action {action:?} for {name}");
                    }
                }
            }
        }
        Mutex::new(st)
    });

    fn parse(action: &str) -> Option<(Kind, Option<u64>)> {
        let (what, nth) = match action.split_once('@') {
            Some((w, n)) => (w, Some(n.parse().ok()?)),
            None => (action, None),
        };
        let kind = match what {
            "crash" => Kind::Crash,
            "enospc" => Kind::Errno(28),
            "eio" => Kind::Errno(5),
            _ => return None,
        };
        Some((kind, nth))
    }

    /// Sets `action` (as in `HANGAR_FAILPOINTS`) for point `name`; hit counts restart.
    pub fn set(name: &str, action: &str) -> Result<()> {
        let a = parse(action).ok_or_else(|| {
            Error::InvalidArgument(format!("unknown failpoint action {action:?}"))
        })?;
        let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        st.actions.insert(name.to_string(), a);
        st.hits.clear();
        Ok(())
    }

    /// Removes every action and hit count.
    pub fn clear() {
        let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        st.actions.clear();
        st.hits.clear();
    }

    /// How often point `name` was passed since the last [`set`] or [`clear`].
    pub fn hits(name: &str) -> u64 {
        let st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        st.hits.get(name).copied().unwrap_or(0)
    }

    pub fn hit(name: &'static str) -> Result<()> {
        let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        let n = {
            let c = st.hits.entry(name).or_insert(0);
            *c += 1;
            *c
        };
        let Some(&(kind, nth)) = st.actions.get(name) else {
            return Ok(());
        };
        if nth.is_some_and(|want| want != n) {
            return Ok(());
        }
        match kind {
            Kind::Crash => std::process::abort(),
            Kind::Errno(code) => Err(Error::Io {
                op: "write (injected by a failpoint)",
                path: std::path::PathBuf::from(name),
                source: std::io::Error::from_raw_os_error(code),
            }),
        }
    }
}
