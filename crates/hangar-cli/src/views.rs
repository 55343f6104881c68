//! How core values look on the command line as coloured text (their `--json` shapes are
//! the types of `documents.rs`).

use hangar_core::timefmt;
use hangar_core::{
    Conflict, ConflictKind, ConflictScope, Diff, DiffEnd, DiffKey, Log, SchemaChange,
};

use crate::output::{paint, thousands, ADDED, BRANCH, COMMIT, DELETED, DIM, MUTATED};

fn end_text(e: &DiffEnd) -> String {
    match e {
        DiffEnd::Commit(c) => paint(COMMIT, c),
        other => other.to_string(),
    }
}

/// How many keys of each list a text diff shows before "... and N more".
const SHOWN: usize = 20;

/// How many keys of each kind a diff must keep for its output: every one for `--json`
/// or `--all`, else the [`SHOWN`] that text prints.
pub fn keys_kept(json: bool, all: bool) -> usize {
    if json || all {
        usize::MAX
    } else {
        SHOWN
    }
}

fn key_lines(
    out: &mut String,
    style: anstyle::Style,
    mark: &str,
    what: &str,
    total: usize,
    shown: impl Iterator<Item = String>,
) {
    if total == 0 {
        return;
    }
    out.push_str(&format!("    {what}: {}\n", thousands(total as u64)));
    let mut n = 0;
    for k in shown {
        out.push_str(&format!("      {}\n", paint(style, format!("{mark} {k}"))));
        n += 1;
    }
    if n < total {
        out.push_str(&format!(
            "      ... and {} more\n",
            thousands((total - n) as u64)
        ));
    }
}

/// The diff for people (`all` lists every key; otherwise the first 20 of each list).
pub fn diff_text(d: &Diff, all: bool) -> String {
    let mut out = format!("Diff from {} to {}\n", end_text(&d.from), end_text(&d.to));
    if d.is_empty() {
        out.push_str("  no changes\n");
        return out;
    }
    let limit = keys_kept(false, all);
    let list = |out: &mut String, style, mark, what, keys: &[String]| {
        key_lines(
            out,
            style,
            mark,
            what,
            keys.len(),
            keys.iter().take(limit).cloned(),
        );
    };
    // `total` keys, of which `keys` holds the first (all of them, or at least SHOWN).
    let dlist = |out: &mut String, style, mark, what, keys: &[DiffKey], total: usize| {
        let shown = keys.iter().take(limit).map(ToString::to_string);
        key_lines(out, style, mark, what, total, shown);
    };
    for col in &d.columns {
        let head = match &col.schema {
            Some(SchemaChange::Added(s)) => format!(
                "column {} {}",
                col.name,
                paint(ADDED, format!("added ({s})"))
            ),
            Some(SchemaChange::Deleted(s)) => format!(
                "column {} {}",
                col.name,
                paint(DELETED, format!("deleted ({s})"))
            ),
            Some(SchemaChange::Changed { from, to }) => {
                format!(
                    "column {} {}",
                    col.name,
                    paint(MUTATED, format!("schema changed: {from} -> {to}"))
                )
            }
            None => format!("column {}", col.name),
        };
        out.push_str(&format!("  {head}\n"));
        let t = &col.totals;
        dlist(&mut out, ADDED, "+", "added", &col.added, t.added);
        dlist(&mut out, DELETED, "-", "deleted", &col.deleted, t.deleted);
        dlist(&mut out, MUTATED, "~", "mutated", &col.mutated, t.mutated);
    }
    let m = &d.metadata;
    if !(m.added.is_empty() && m.deleted.is_empty() && m.mutated.is_empty()) {
        out.push_str("  metadata\n");
        list(&mut out, ADDED, "+", "added", &m.added);
        list(&mut out, DELETED, "-", "deleted", &m.deleted);
        list(&mut out, MUTATED, "~", "mutated", &m.mutated);
    }
    let c = d.counts();
    out.push_str(&format!(
        "{} columns added, {} deleted, {} with a new schema; samples: {} added, {} deleted, {} mutated; {} metadata keys changed\n",
        c.columns_added,
        c.columns_deleted,
        c.schemas_changed,
        thousands(c.samples_added as u64),
        thousands(c.samples_deleted as u64),
        thousands(c.samples_mutated as u64),
        c.metadata_changed
    ));
    out
}

/// One commit as a log line: `id (heads) (time) (author) : first line of the message`.
fn log_line(e: &hangar_core::LogEntry, time: bool, author: bool) -> String {
    let mut s = paint(COMMIT, e.commit.id);
    if !e.branch_heads.is_empty() {
        let heads: Vec<String> = e.branch_heads.iter().map(|b| paint(BRANCH, b)).collect();
        s.push_str(&format!(" ({})", heads.join(", ")));
    }
    if time {
        s.push_str(&format!(
            " ({})",
            paint(DIM, timefmt::compact(e.commit.time_ns))
        ));
    }
    if author {
        s.push_str(&format!(" ({})", e.commit.author));
    }
    s.push_str(&format!(
        " : {}",
        e.commit.message.lines().next().unwrap_or_default()
    ));
    s
}

/// The log for people: one line per commit, drawn as a graph with `graph`.
pub fn log_text(log: &Log, graph: bool, time: bool, author: bool) -> String {
    let mut out = String::new();
    if graph {
        for row in log.graph() {
            match row.entry {
                Some(i) => out.push_str(&format!(
                    "{} {}\n",
                    row.graph,
                    log_line(&log.entries[i], time, author)
                )),
                None => out.push_str(&format!("{}\n", row.graph)),
            }
        }
    } else {
        for e in &log.entries {
            out.push_str(&log_line(e, time, author));
            out.push('\n');
        }
    }
    out
}

pub fn conflict_kind_name(k: ConflictKind) -> &'static str {
    match k {
        ConflictKind::AddedInBoth => "added_in_both",
        ConflictKind::DeletedOursChangedTheirs => "deleted_ours_changed_theirs",
        ConflictKind::ChangedOursDeletedTheirs => "changed_ours_deleted_theirs",
        ConflictKind::ChangedInBoth => "changed_in_both",
    }
}

fn conflict_kind_text(k: ConflictKind) -> &'static str {
    match k {
        ConflictKind::AddedInBoth => "added in both, different values",
        ConflictKind::DeletedOursChangedTheirs => "deleted here, changed there",
        ConflictKind::ChangedOursDeletedTheirs => "changed here, deleted there",
        ConflictKind::ChangedInBoth => "changed in both, different values",
    }
}

/// A digest for the conflict table (12 hex digits, or `-` when absent).
fn short_digest(d: &Option<hangar_core::Digest>) -> String {
    d.map_or_else(|| "-".to_string(), |d| d.to_hex()[..12].to_string())
}

/// The conflict table.
pub fn conflicts_table(conflicts: &[Conflict]) -> String {
    let rows: Vec<Vec<String>> = conflicts
        .iter()
        .map(|c| {
            let (what, key) = match &c.scope {
                ConflictScope::Sample { column, key } => (format!("column {column}"), key.clone()),
                ConflictScope::Column { column } => {
                    (format!("column {column}"), "(the column)".into())
                }
                ConflictScope::Metadata { key } => ("metadata".into(), key.clone()),
            };
            vec![
                what,
                key,
                paint(crate::output::BAD, conflict_kind_text(c.kind)),
                short_digest(&c.base),
                short_digest(&c.ours),
                short_digest(&c.theirs),
            ]
        })
        .collect();
    crate::output::table(
        &["WHERE", "KEY", "CONFLICT", "BASE", "OURS", "THEIRS"],
        &rows,
    )
}

/// `[28, 28]`, `[]`.
/// A shape as numpy (and the original) print it: `(28, 28)`, `(784,)`, `()`.
pub fn shape_text(shape: &[usize]) -> String {
    hangar_core::value::fmt_shape(shape)
}
