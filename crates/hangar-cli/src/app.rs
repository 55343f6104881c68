//! What every command shares: where the repository is, output mode, progress bars, and
//! the two kinds of unsuccessful ending (a negative answer, exit 1; an error, exit 2).

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use hangar_core::{Repository, WriterCheckout};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a command that worked ended: done (exit 0), or with a negative answer — "no
/// problems? no", "anything to commit? no" — exit 1, its message on stderr. An error is
/// not an ending but the `Err` of the command's result (exit 2). (ripgrep's `main`
/// returns its exit status the same way, rather than an error type found by downcast.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Done,
    Negative {
        message: String,
        /// The `kind` of the `--json` error document ("nothing_to_commit", "negative").
        kind: &'static str,
    },
}

impl Ending {
    /// A negative answer with `message` on stderr (kind `negative`).
    pub fn negative(message: impl Into<String>) -> Ending {
        Ending::Negative {
            message: message.into(),
            kind: "negative",
        }
    }

    /// "Nothing to commit / reset" (kind `nothing_to_commit`).
    pub fn nothing_to_commit(message: impl Into<String>) -> Ending {
        Ending::Negative {
            message: message.into(),
            kind: "nothing_to_commit",
        }
    }

    /// A core error as the command's ending: "nothing to commit/reset" is a negative
    /// answer, anything else an error.
    pub fn from_core(e: hangar_core::Error) -> anyhow::Result<Ending> {
        if e.kind() == hangar_core::ErrorKind::NothingToCommit {
            Ok(Ending::nothing_to_commit(e.to_string()))
        } else {
            Err(e.into())
        }
    }
}

/// The ending of a command that has no negative answer.
pub fn done(result: anyhow::Result<()>) -> anyhow::Result<Ending> {
    result.map(|()| Ending::Done)
}

/// The `kind` of the `--json` error document for an error: the core error's kind in
/// snake case (`not_found`, `locked`, ...), `io` for the operating system's, else `error`.
pub fn error_kind(e: &anyhow::Error) -> &'static str {
    use hangar_core::ErrorKind as K;
    if let Some(c) = e
        .chain()
        .find_map(|c| c.downcast_ref::<hangar_core::Error>())
    {
        return match c.kind() {
            K::NotFound => "not_found",
            K::AlreadyExists => "already_exists",
            K::InvalidArgument => "invalid_argument",
            K::Locked => "locked",
            K::Conflict => "conflict",
            K::Corrupt => "corrupt",
            K::Unsupported => "unsupported",
            K::Io => "io",
            K::Closed => "closed",
            K::NothingToCommit => "nothing_to_commit",
            K::DirtyStaging => "dirty_staging",
            K::Internal => "internal",
            K::NotFetched => "not_fetched",
            K::Remote => "remote",
            _ => "error",
        };
    }
    if e.chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some())
    {
        return "io";
    }
    "error"
}

/// The state of one `hangar` invocation.
#[derive(Debug)]
pub struct Ctx {
    dir: Option<PathBuf>,
    pub json: bool,
    pub quiet: bool,
}

impl Ctx {
    pub fn new(dir: Option<PathBuf>, json: bool, quiet: bool) -> Ctx {
        Ctx { dir, json, quiet }
    }

    /// The directory given with `-C` (or `HANGAR_REPO`), else the current directory.
    pub fn start_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.dir {
            Some(d) => Ok(d.clone()),
            None => std::env::current_dir().context("cannot read the current directory"),
        }
    }

    /// The repository containing the start directory (searched upwards, like git).
    pub fn open(&self) -> anyhow::Result<Repository> {
        let start = self.start_dir()?;
        let found = find_repo(&start).ok_or_else(|| {
            anyhow!(
                "not a hangar repository: no .hangar directory in {} or any parent; run `hangar init` there, or pass -C DIR",
                start.display()
            )
        })?;
        Ok(Repository::open(found)?)
    }

    /// A writer checkout of the staging branch.
    pub fn writer(&self, repo: &Repository) -> anyhow::Result<WriterCheckout> {
        Ok(repo.checkout_writer()?)
    }

    /// The staging area for a command that only reads it: taken without the writer
    /// lock (as `git status` works beside a running commit), with a note naming the
    /// writer when one is active.
    pub fn staged(&self, repo: &Repository) -> anyhow::Result<hangar_core::StagedView> {
        self.noted_view(repo.staged_view()?, repo)
    }

    /// [`Ctx::staged`] without the staged values (`Repository::staged_records_view`),
    /// for commands that show records, keys and changes but read no value.
    pub fn staged_records(&self, repo: &Repository) -> anyhow::Result<hangar_core::StagedView> {
        self.noted_view(repo.staged_records_view()?, repo)
    }

    fn noted_view(
        &self,
        view: hangar_core::StagedView,
        repo: &Repository,
    ) -> anyhow::Result<hangar_core::StagedView> {
        if view.writer_active() {
            let who = match repo.writer_lock_holder().ok().flatten() {
                Some(h) => format!(" (process {} on {}, {})", h.pid, h.host, h.program),
                None => String::new(),
            };
            self.note(&format!(
                "A writer is active{who}: this shows the staging area as its journal holds \
                 it now; changes it has not written yet are not shown."
            ));
        }
        Ok(view)
    }

    /// True if progress bars and notes may be drawn on stderr.
    pub fn chatty(&self) -> bool {
        !self.quiet && !self.json
    }

    /// A progress bar over `len` steps, drawn only when stderr is a terminal and not
    /// `--quiet`/`--json`.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if !self.chatty() || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:30}] {human_pos}/{human_len} ({rate}, {eta} left)",
            )
            .expect("the template is valid")
            // Whole samples per second with thousands separators ("5,244/s"), not
            // indicatif's four decimals.
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn fmt::Write| {
                    let _ = write!(w, "{}/s", crate::output::thousands(s.per_sec() as u64));
                },
            )
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }

    /// A spinner for work of unknown length (commit, verify), on a terminal only.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !self.chatty() || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let s = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        s.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .expect("the template is valid"),
        );
        s.set_message(what.to_string());
        s.enable_steady_tick(Duration::from_millis(120));
        s
    }

    /// The result line of a command that changed something (`[master 1a2b3c] msg`,
    /// `Switched to branch dev`), on stdout — not with `--quiet`: as git's `-q`, a script
    /// then sees errors and warnings only. What a command is asked to show (status, log,
    /// a list, a dry run's plan) is printed whatever `--quiet` says.
    pub fn done(&self, text: &str) -> std::io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        crate::output::println(text)
    }

    /// A note for people on stderr (not with `--quiet` or `--json`).
    pub fn note(&self, msg: &str) {
        if self.chatty() {
            crate::output::note(msg);
        }
    }
}

/// The nearest directory at or above `start` that holds a `.hangar` directory.
pub fn find_repo(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    start
        .ancestors()
        .find(|d| d.join(".hangar").is_dir())
        .map(Path::to_path_buf)
}

/// True if the error is a closed stdout (`hangar log | head`): exit quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error as one line: every context, outermost first.
pub fn describe(e: &anyhow::Error) -> String {
    // Each cause once: a library error's text often already holds its source's.
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    if let Some(advice) = io_kind(e).and_then(os_advice) {
        text.push_str("; ");
        text.push_str(advice);
    }
    text.replace('\n', " ")
}

/// The kind of the operating-system error in `e`'s chain, if any.
pub fn io_kind(e: &anyhow::Error) -> Option<std::io::ErrorKind> {
    e.chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
}

/// A library error with what to do added: `{e}{hint}` is the message, and `e` stays in
/// the chain (its kind for `--json`; `describe` prints its text once, as the context
/// holds it).
pub fn with_hint(e: hangar_core::Error, hint: &str) -> anyhow::Error {
    let text = format!("{e}{hint}");
    anyhow::Error::new(e).context(text)
}

/// What to do about an operating-system error people can fix themselves.
fn os_advice(kind: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::StorageFull | K::QuotaExceeded => {
            "the disk is full (or the quota is used up): free some space and retry; nothing \
             already committed was lost (`hangar reset` discards staged changes and their data)"
        }
        K::ReadOnlyFilesystem => {
            "the file system is mounted read-only: remount it read-write, or copy the \
             repository to a writable place"
        }
        K::PermissionDenied => {
            "you may not write there: check the owner and permissions of that path (ls -l), or run \
             as the user who owns the repository"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OS error as the library reports one: a message naming the operation and the
    /// path, with the `std::io::Error` as its source (the store's `Error::Io`, which
    /// the CLI sees only through `hangar_core::Error`).
    #[derive(Debug)]
    struct OsError(std::io::Error);

    impl std::fmt::Display for OsError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "open /r/.hangar/writer.lock: {}", self.0)
        }
    }

    impl std::error::Error for OsError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn os_error(kind: std::io::ErrorKind) -> anyhow::Error {
        anyhow::Error::new(OsError(std::io::Error::from(kind)))
    }

    #[test]
    fn os_errors_are_printed_once_with_what_to_do() {
        for (kind, advice) in [
            (
                std::io::ErrorKind::PermissionDenied,
                "check the owner and permissions",
            ),
            (std::io::ErrorKind::StorageFull, "free some space"),
            (
                std::io::ErrorKind::ReadOnlyFilesystem,
                "remount it read-write",
            ),
        ] {
            let text = describe(&os_error(kind));
            let os = std::io::Error::from(kind).to_string();
            assert_eq!(text.matches(&os).count(), 1, "{text}");
            assert!(text.contains("/r/.hangar/writer.lock"), "{text}");
            assert!(text.contains(advice), "{text}");
        }
        let plain = describe(&anyhow::anyhow!("no such column \"x\""));
        assert_eq!(plain, "no such column \"x\"");
        let ctx = describe(&anyhow::anyhow!("inner").context("outer"));
        assert_eq!(ctx, "outer: inner");
    }
}
