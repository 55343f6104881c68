//! What every command shares: where the repository is, output mode, progress bars, and
//! the two kinds of unsuccessful ending (a negative answer, exit 1; an error, exit 2).

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use hangar_core::{Repository, WriterCheckout};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A negative answer: the command worked and the answer is "no" (exit status 1). The
/// message, if any, goes to stderr.
#[derive(Debug)]
pub struct Negative {
    pub message: String,
}

impl fmt::Display for Negative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Negative {}

/// Ends the command with exit status 1 and `message` on stderr.
pub fn negative(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Negative {
        message: message.into(),
    })
}

/// A core error as the command's ending: "nothing to commit/reset" is a negative answer
/// (exit 1), anything else an error (exit 2).
pub fn from_core(e: hangar_core::Error) -> anyhow::Error {
    if e.kind() == hangar_core::ErrorKind::NothingToCommit {
        negative(e.to_string())
    } else {
        e.into()
    }
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
                "{msg:>10} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
            )
            .expect("the template is valid")
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
    format!("{e:#}").replace('\n', " ")
}
