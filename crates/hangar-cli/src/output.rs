//! Output: text for people on stdout (coloured only when allowed), JSON documents, and
//! messages on stderr. Every write returns its I/O error so that a closed pipe ends the
//! command quietly instead of panicking.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde_json::{json, Value};

/// The version of every `--json` document's shape (docs/cli.md).
pub const JSON_SCHEMA_VERSION: u64 = 1;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it on).
    Auto,
    /// Always (overrides NO_COLOR, as a command-line flag should).
    Always,
    /// Never.
    Never,
}

/// Sets the colour choice for stdout and stderr.
pub fn set_color(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

pub const COMMIT: Style = AnsiColor::Yellow.on_default();
pub const BRANCH: Style = AnsiColor::Green.on_default().bold();
pub const ADDED: Style = AnsiColor::Green.on_default();
pub const DELETED: Style = AnsiColor::Red.on_default();
pub const MUTATED: Style = AnsiColor::Yellow.on_default();
pub const HEADING: Style = Style::new().bold();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const DIM: Style = Style::new().dimmed();

/// `text` in `style` (the escape codes are stripped later when colour is off).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// The pager's input while one runs (see [`crate::pager`]): text goes there instead.
static PAGER_INPUT: std::sync::Mutex<Option<(std::process::ChildStdin, bool)>> =
    std::sync::Mutex::new(None);

/// Sends every later text write to `input` (a pager's), with colour codes kept only when
/// `colors`.
pub fn set_pager_input(input: std::process::ChildStdin, colors: bool) {
    if let Ok(mut p) = PAGER_INPUT.lock() {
        *p = Some((input, colors));
    }
}

/// Closes the pager's input (it then sees the end of the output).
pub fn end_pager_input() {
    if let Ok(mut p) = PAGER_INPUT.lock() {
        if let Some((mut input, _)) = p.take() {
            let _ = input.flush();
        }
    }
}

/// Writes `parts` to the pager if one runs, else to stdout.
fn write_out(parts: &[&str]) -> std::io::Result<()> {
    let mut pager = PAGER_INPUT
        .lock()
        .map_err(|_| std::io::Error::other("output lock"))?;
    match pager.as_mut() {
        Some((p, colors)) => {
            for part in parts {
                if *colors {
                    p.write_all(part.as_bytes())?;
                } else {
                    for piece in anstream::adapter::strip_str(part) {
                        p.write_all(piece.as_bytes())?;
                    }
                }
            }
            p.flush()
        }
        None => {
            let mut out = anstream::stdout().lock();
            for part in parts {
                out.write_all(part.as_bytes())?;
            }
            out.flush()
        }
    }
}

/// Writes text to stdout (or the pager).
pub fn print(text: &str) -> std::io::Result<()> {
    write_out(&[text])
}

/// Writes a line to stdout (or the pager).
pub fn println(text: &str) -> std::io::Result<()> {
    write_out(&[text, "\n"])
}

/// Set once a JSON document went to stdout: under `--json` an error prints its own
/// document only when the command printed none.
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True if [`print_json`] printed a document in this process.
pub fn json_printed() -> bool {
    JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prints one JSON document (with `schema_version`) on stdout.
pub fn print_json(doc: &impl serde::Serialize) -> std::io::Result<()> {
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut doc = serde_json::to_value(doc).map_err(std::io::Error::other)?;
    if let Value::Object(m) = &mut doc {
        m.insert("schema_version".into(), json!(JSON_SCHEMA_VERSION));
    }
    let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    // JSON goes to stdout as it is (never coloured, never paged: --json turns paging off).
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// A message on stderr.
pub fn note(msg: &str) {
    let _ = writeln!(anstream::stderr(), "{msg}");
}

/// An error on stderr: `error: ...`.
pub fn error(msg: &str) {
    let _ = writeln!(anstream::stderr(), "{}: {msg}", paint(BAD, "error"));
}

/// Left-aligned columns with two spaces between them, for people to read.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            width[i] = width[i].max(visible_len(c));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(width[i] - visible_len(c) + 2));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| paint(HEADING, h)).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// `s` without its ANSI escape sequences.
pub fn strip_ansi(s: &str) -> String {
    anstream::adapter::strip_str(s).to_string()
}

/// Characters shown, not counting ANSI escape sequences.
fn visible_len(s: &str) -> usize {
    anstream::adapter::strip_str(s)
        .map(|part| part.chars().count())
        .sum()
}

/// `n` and a noun, singular for 1: `1 element`, `3 elements`, `1,000 conflicts`,
/// `2 branches` (nouns ending in s, x, z, ch or sh take -es).
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| noun.ends_with(e))
    {
        format!("{} {noun}es", thousands(n))
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(count(1, "branch"), "1 branch");
        assert_eq!(count(2, "branch"), "2 branches");
        assert_eq!(count(1234, "value"), "1,234 values");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn table_aligns_ignoring_colour() {
        let t = table(
            &["a", "bb"],
            &[
                vec![paint(ADDED, "xxx"), "1".into()],
                vec!["y".into(), "22".into()],
            ],
        );
        assert!(t.contains('\u{1b}'), "painted: {t:?}");
        let plain: Vec<String> = t.lines().map(strip_ansi).collect();
        assert_eq!(plain, ["a    bb", "xxx  1", "y    22"]);
    }
}
