//! A pager for long output, the way git does it: `log`, `diff` and `show` go through one
//! when stdout is a terminal, `-p`/`--paginate` forces it for any command and
//! `--no-pager` turns it off. The pager is `HANGAR_PAGER`, else `PAGER`, else `less`
//! (run by `sh -c`, with `LESS=FRX` unless `LESS` is set: quit if one screen is enough,
//! keep colours, leave the screen as it was); an empty value or `cat` means none.
//!
//! The pager's input is a pipe that every text write of [`crate::output`] goes to while
//! it runs (binary output such as `export -o -` or `cat --raw` is never paged). When the
//! command ends the pipe is closed and we wait for the pager. If it quits early, our
//! writes fail with a broken pipe, which ends the command quietly (as `| head` does).

use std::process::{Child, Command, Stdio};

/// Subcommands whose output goes through the pager by default on a terminal.
pub const PAGED_BY_DEFAULT: &[&str] = &["log", "diff", "show"];

/// A running pager, fed the text output through its stdin.
#[derive(Debug)]
pub struct Pager {
    child: Child,
}

/// The pager command the environment asks for, `None` for no pager.
fn pager_command() -> Option<String> {
    let cmd = std::env::var("HANGAR_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less".to_string());
    let cmd = cmd.trim().to_string();
    (!cmd.is_empty() && cmd != "cat").then_some(cmd)
}

/// Whether the program that `cmd` starts with can be run: a path to a file, or a name
/// found on PATH. A pager that cannot start would swallow the output, so none is used.
fn runnable(cmd: &str) -> bool {
    let Some(program) = cmd.split_whitespace().next() else {
        return false;
    };
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    // A shell construct (variable, builtin such as `exec`) is the user's to get right.
    if program.contains(['$', '=', '(']) || program == "exec" {
        return true;
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Starts the pager when it is wanted: forced, or the command pages by default and
/// stdout is a terminal (`on_terminal`); never with `no_pager`. `colors` says whether
/// the pager gets our colour codes. `None` when no pager runs (output goes straight to
/// stdout).
pub fn start(
    force: bool,
    no_pager: bool,
    pages_by_default: bool,
    on_terminal: bool,
    colors: bool,
) -> Option<Pager> {
    if no_pager || !(force || (pages_by_default && on_terminal)) {
        return None;
    }
    let cmd = pager_command().filter(|c| runnable(c))?;
    let mut command = Command::new("sh");
    command.arg("-c").arg(&cmd).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        command.env("LESS", "FRX");
    }
    if std::env::var_os("LV").is_none() {
        command.env("LV", "-c");
    }
    let mut child = command.spawn().ok()?;
    let input = child.stdin.take()?;
    crate::output::set_pager_input(input, colors);
    Some(Pager { child })
}

impl Pager {
    /// Ends the output: closes the pager's input and waits for it to quit.
    pub fn finish(mut self) {
        crate::output::end_pager_input();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_that_cannot_start_are_not_used_as_pagers() {
        assert!(runnable("sh -c true"));
        assert!(runnable("/bin/sh"));
        assert!(!runnable("/nonexistent/pager -R"));
        assert!(!runnable("no-such-pager-anywhere"));
        assert!(!runnable("   "));
    }
}
