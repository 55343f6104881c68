//! How core values look on the command line: the JSON shapes of docs/cli.md, and the
//! coloured text renderings.

use hangar_core::timefmt;
use hangar_core::{
    ColumnInfo, ColumnSchema, CommitInfo, Conflict, ConflictKind, ConflictScope, Diff, DiffEnd,
    DiffKey, Log, SchemaChange,
};
use serde_json::{json, Value};

use crate::keys::diff_key_json;
use crate::output::{paint, thousands, ADDED, BRANCH, COMMIT, DELETED, DIM, MUTATED};

pub fn commit_json(c: &CommitInfo) -> Value {
    json!({
        "id": c.id.to_hex(),
        "parents": c.parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
        "author": c.author,
        "email": c.email,
        "time": timefmt::rfc3339(c.time_ns),
        "time_ns": c.time_ns,
        "message": c.message,
    })
}

pub fn schema_json(s: &ColumnSchema) -> Value {
    json!({
        "kind": s.kind().name(),
        "dtype": s.dtype().map(|d| d.name()),
        "shape": s.shape(),
        "variable_shape": s.kind() == hangar_core::ColumnKind::NdArray && s.variable_shape(),
        "nested": s.is_nested(),
    })
}

pub fn column_json(c: &ColumnInfo) -> Value {
    json!({
        "name": c.name,
        "schema": schema_json(&c.schema),
        "schema_hash": c.schema_hash,
        "num_samples": c.num_samples,
        "num_subsamples": c.num_subsamples,
    })
}

fn end_json(e: &DiffEnd) -> Value {
    match e {
        DiffEnd::Commit(c) => json!(c.to_hex()),
        DiffEnd::Staged => json!("staged"),
        DiffEnd::Empty => Value::Null,
    }
}

fn keys_json(keys: &[DiffKey]) -> Value {
    Value::Array(keys.iter().map(diff_key_json).collect())
}

pub fn diff_json(d: &Diff) -> Value {
    let c = d.counts();
    json!({
        "from": end_json(&d.from),
        "to": end_json(&d.to),
        "columns": d.columns.iter().map(|col| json!({
            "name": col.name,
            "schema": match &col.schema {
                None => Value::Null,
                Some(SchemaChange::Added(s)) => json!({"change": "added", "to": schema_json(s)}),
                Some(SchemaChange::Deleted(s)) => json!({"change": "deleted", "from": schema_json(s)}),
                Some(SchemaChange::Changed { from, to }) =>
                    json!({"change": "changed", "from": schema_json(from), "to": schema_json(to)}),
            },
            "added": keys_json(&col.added),
            "deleted": keys_json(&col.deleted),
            "mutated": keys_json(&col.mutated),
        })).collect::<Vec<_>>(),
        "metadata": {
            "added": d.metadata.added,
            "deleted": d.metadata.deleted,
            "mutated": d.metadata.mutated,
        },
        "counts": {
            "columns_added": c.columns_added,
            "columns_deleted": c.columns_deleted,
            "schemas_changed": c.schemas_changed,
            "samples_added": c.samples_added,
            "samples_deleted": c.samples_deleted,
            "samples_mutated": c.samples_mutated,
            "metadata_changed": c.metadata_changed,
        },
    })
}

fn end_text(e: &DiffEnd) -> String {
    match e {
        DiffEnd::Commit(c) => paint(COMMIT, c),
        other => other.to_string(),
    }
}

/// How many keys of each list a text diff shows before "... and N more".
const SHOWN: usize = 20;

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
    let limit = if all { usize::MAX } else { SHOWN };
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
    let dlist = |out: &mut String, style, mark, what, keys: &[DiffKey]| {
        let shown = keys.iter().take(limit).map(ToString::to_string);
        key_lines(out, style, mark, what, keys.len(), shown);
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
        dlist(&mut out, ADDED, "+", "added", &col.added);
        dlist(&mut out, DELETED, "-", "deleted", &col.deleted);
        dlist(&mut out, MUTATED, "~", "mutated", &col.mutated);
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

pub fn log_json(log: &Log) -> Value {
    json!({
        "commits": log.entries.iter().map(|e| {
            let mut c = commit_json(&e.commit);
            c["branch_heads"] = json!(e.branch_heads);
            c
        }).collect::<Vec<_>>(),
        "heads": log.heads().into_iter().map(|(b, c)| (b, json!(c.to_hex()))).collect::<serde_json::Map<_, _>>(),
    })
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

fn digest_hex(d: &Option<hangar_core::Digest>) -> Value {
    d.map_or(Value::Null, |d| json!(d.to_hex()))
}

/// A sample key as the merge report prints it (`7`, `"s0"`, `"s"/3` when nested) as
/// JSON the way every other document has keys: a number, a string, or `[sample, sub]`.
fn printed_key_json(printed: &str) -> Value {
    let one = |p: &str| match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(s) => json!(s),
        None => p.parse::<u64>().map_or_else(|_| json!(p), |n| json!(n)),
    };
    // Keys never contain '/' or '"', so the nested form splits cleanly.
    match printed.split_once('/') {
        Some((k, sub)) => json!([one(k), one(sub)]),
        None => one(printed),
    }
}

pub fn conflict_json(c: &Conflict) -> Value {
    let (scope, column, key) = match &c.scope {
        ConflictScope::Sample { column, key } => {
            ("sample", Some(column), Some(printed_key_json(key)))
        }
        ConflictScope::Column { column } => ("column", Some(column), None),
        ConflictScope::Metadata { key } => ("metadata", None, Some(json!(key))),
    };
    json!({
        "scope": scope,
        "column": column,
        "key": key,
        "kind": conflict_kind_name(c.kind),
        "base": digest_hex(&c.base),
        "ours": digest_hex(&c.ours),
        "theirs": digest_hex(&c.theirs),
    })
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
