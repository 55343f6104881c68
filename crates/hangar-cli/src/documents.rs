//! The `--json` documents of docs/cli.md, as types: each command prints one of these,
//! so a document's fields are checked by the compiler against one definition rather
//! than assembled by hand at each call site. Field names and order are the documented
//! ones; `output::print_json` adds `schema_version`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hangar_core::timefmt;
use hangar_core::{
    ColumnInfo, ColumnSchema, CommitId, CommitInfo, Conflict, ConflictScope, Diff, DiffEnd, Log,
    SampleKey, SchemaChange,
};
use serde::Serialize;

/// A commit id (64 hex digits).
pub type Id = String;

/// The full id (a `CommitId` displays as its 16-digit short form).
fn hex(id: &CommitId) -> Id {
    id.to_hex()
}

/// A sample key: a JSON number (integer keys) or string.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Key {
    Int(u64),
    Str(String),
}

impl From<&SampleKey> for Key {
    fn from(k: &SampleKey) -> Key {
        match k {
            SampleKey::Int(i) => Key::Int(*i),
            SampleKey::Str(s) => Key::Str(s.clone()),
        }
    }
}

/// A key in a diff or a merge conflict: the key, or `[sample, subsample]` in a nested
/// column.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DiffKey {
    One(Key),
    Nested(Key, Key),
}

impl From<&hangar_core::DiffKey> for DiffKey {
    fn from(k: &hangar_core::DiffKey) -> DiffKey {
        match &k.subsample {
            Some(sub) => DiffKey::Nested((&k.sample).into(), sub.into()),
            None => DiffKey::One((&k.sample).into()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Commit {
    pub id: Id,
    pub parents: Vec<Id>,
    pub author: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub time_ns: i64,
    pub message: String,
}

impl From<&CommitInfo> for Commit {
    fn from(c: &CommitInfo) -> Commit {
        Commit {
            id: hex(&c.id),
            parents: c.parents.iter().map(hex).collect(),
            author: c.author.clone(),
            email: c.email.clone(),
            time: timefmt::rfc3339(c.time_ns),
            time_ns: c.time_ns,
            message: c.message.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Schema {
    pub kind: &'static str,
    pub dtype: Option<&'static str>,
    pub shape: Vec<usize>,
    pub variable_shape: bool,
    pub nested: bool,
    /// none, zstd:<level> or lz4.
    pub compression: String,
}

impl From<&ColumnSchema> for Schema {
    fn from(s: &ColumnSchema) -> Schema {
        Schema {
            kind: s.kind().name(),
            dtype: s.dtype().map(|d| d.name()),
            shape: s.shape().to_vec(),
            variable_shape: s.kind() == hangar_core::ColumnKind::NdArray && s.variable_shape(),
            nested: s.is_nested(),
            compression: s.compression().to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Column {
    pub name: String,
    pub schema: Schema,
    pub schema_hash: String,
    pub num_samples: u64,
    pub num_subsamples: Option<u64>,
}

impl From<&ColumnInfo> for Column {
    fn from(c: &ColumnInfo) -> Column {
        Column {
            name: c.name.clone(),
            schema: (&c.schema).into(),
            schema_hash: c.schema_hash.clone(),
            num_samples: c.num_samples,
            num_subsamples: c.num_subsamples,
        }
    }
}

/// Columns as documents.
pub fn columns(cols: &[ColumnInfo]) -> Vec<Column> {
    cols.iter().map(Column::from).collect()
}

/// A diff's end: a commit id, `"staged"`, or null (nothing).
fn end(e: &DiffEnd) -> Option<String> {
    match e {
        DiffEnd::Commit(c) => Some(hex(c)),
        DiffEnd::Staged => Some("staged".into()),
        DiffEnd::Empty => None,
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum SchemaDiff {
    Added { to: Schema },
    Deleted { from: Schema },
    Changed { from: Schema, to: Schema },
}

#[derive(Debug, Serialize)]
pub struct ColumnDiff {
    pub name: String,
    pub schema: Option<SchemaDiff>,
    pub added: Vec<DiffKey>,
    pub deleted: Vec<DiffKey>,
    pub mutated: Vec<DiffKey>,
}

#[derive(Debug, Serialize)]
pub struct DiffDoc {
    pub from: Option<String>,
    pub to: Option<String>,
    pub columns: Vec<ColumnDiff>,
    pub metadata: hangar_core::MetadataDiff,
    pub counts: hangar_core::DiffCounts,
}

fn keys(ks: &[hangar_core::DiffKey]) -> Vec<DiffKey> {
    ks.iter().map(DiffKey::from).collect()
}

impl From<&Diff> for DiffDoc {
    fn from(d: &Diff) -> DiffDoc {
        DiffDoc {
            from: end(&d.from),
            to: end(&d.to),
            columns: d
                .columns
                .iter()
                .map(|col| ColumnDiff {
                    name: col.name.clone(),
                    schema: col.schema.as_ref().map(|s| match s {
                        SchemaChange::Added(s) => SchemaDiff::Added { to: s.into() },
                        SchemaChange::Deleted(s) => SchemaDiff::Deleted { from: s.into() },
                        SchemaChange::Changed { from, to } => SchemaDiff::Changed {
                            from: from.into(),
                            to: to.into(),
                        },
                    }),
                    added: keys(&col.added),
                    deleted: keys(&col.deleted),
                    mutated: keys(&col.mutated),
                })
                .collect(),
            metadata: d.metadata.clone(),
            counts: d.counts(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LogCommit {
    #[serde(flatten)]
    pub commit: Commit,
    pub branch_heads: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LogDoc {
    pub commits: Vec<LogCommit>,
    pub heads: BTreeMap<String, Id>,
}

impl From<&Log> for LogDoc {
    fn from(log: &Log) -> LogDoc {
        LogDoc {
            commits: log
                .entries
                .iter()
                .map(|e| LogCommit {
                    commit: (&e.commit).into(),
                    branch_heads: e.branch_heads.clone(),
                })
                .collect(),
            heads: log
                .heads()
                .into_iter()
                .map(|(b, c)| (b.to_string(), hex(&c)))
                .collect(),
        }
    }
}

/// A conflict's key: a sample key (or `[sample, subsample]`), or a metadata key.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ConflictKey {
    Sample(DiffKey),
    Metadata(String),
}

#[derive(Debug, Serialize)]
pub struct ConflictDoc {
    pub scope: &'static str,
    pub column: Option<String>,
    pub key: Option<ConflictKey>,
    pub kind: &'static str,
    pub base: Option<String>,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

/// A sample key as the merge report prints it (`7`, `"s0"`, `"s"/3` when nested), as
/// every other document has keys: a number, a string, or `[sample, sub]`.
fn printed_key(printed: &str) -> DiffKey {
    let one = |p: &str| match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(s) => Key::Str(s.to_string()),
        None => p
            .parse::<u64>()
            .map_or_else(|_| Key::Str(p.to_string()), Key::Int),
    };
    // Keys never contain '/' or '"', so the nested form splits cleanly.
    match printed.split_once('/') {
        Some((k, sub)) => DiffKey::Nested(one(k), one(sub)),
        None => DiffKey::One(one(printed)),
    }
}

impl From<&Conflict> for ConflictDoc {
    fn from(c: &Conflict) -> ConflictDoc {
        let (scope, column, key) = match &c.scope {
            ConflictScope::Sample { column, key } => (
                "sample",
                Some(column.clone()),
                Some(ConflictKey::Sample(printed_key(key))),
            ),
            ConflictScope::Column { column } => ("column", Some(column.clone()), None),
            ConflictScope::Metadata { key } => {
                ("metadata", None, Some(ConflictKey::Metadata(key.clone())))
            }
        };
        let digest = |d: &Option<hangar_core::Digest>| d.map(|d| d.to_hex());
        ConflictDoc {
            scope,
            column,
            key,
            kind: crate::views::conflict_kind_name(c.kind),
            base: digest(&c.base),
            ours: digest(&c.ours),
            theirs: digest(&c.theirs),
        }
    }
}

/// Conflicts as documents.
pub fn conflicts(cs: &[Conflict]) -> Vec<ConflictDoc> {
    cs.iter().map(ConflictDoc::from).collect()
}

/// The document of a command that fails or answers no without one of its own.
#[derive(Debug, Serialize)]
pub struct ErrorDoc {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub kind: &'static str,
    pub message: String,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
pub struct Init {
    pub created: bool,
    pub path: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct StagedSamples {
    pub column: String,
    pub added_or_changed: usize,
    pub deleted: usize,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub branch: String,
    pub head: Option<Id>,
    pub clean: bool,
    pub writer_active: bool,
    pub columns_added: Vec<String>,
    pub columns_deleted: Vec<String>,
    pub columns_replaced: Vec<String>,
    pub samples: Vec<StagedSamples>,
    pub metadata_changes: usize,
    pub not_fetched: Vec<NotFetched>,
}

/// Samples of a column whose values are not stored here (a partial clone).
#[derive(Debug, Serialize)]
pub struct NotFetched {
    pub column: String,
    pub samples: u64,
}

pub fn not_fetched(v: &[(String, u64)]) -> Vec<NotFetched> {
    v.iter()
        .map(|(column, samples)| NotFetched {
            column: column.clone(),
            samples: *samples,
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct Committed {
    pub commit: Id,
    pub branch: String,
}

#[derive(Debug, Serialize)]
pub struct Reset {
    pub reset: bool,
    pub head: Option<Id>,
}

#[derive(Debug, Serialize)]
pub struct ResetDamaged {
    pub reset: bool,
    pub head: Option<Id>,
    pub damaged: bool,
    pub changes_lost: Option<usize>,
    pub files_removed: usize,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub directory: PathBuf,
    pub disk_usage_bytes: u64,
    pub commit: Option<Commit>,
    pub columns: Vec<Column>,
    pub metadata_keys: usize,
    pub not_fetched: Vec<NotFetched>,
}

#[derive(Debug, Serialize)]
pub struct Show {
    pub commit: Commit,
    pub diff: DiffDoc,
}

#[derive(Debug, Serialize)]
pub struct Merge {
    /// `up_to_date`, `fast_forward`, `merged` or `conflict`.
    pub outcome: &'static str,
    pub branch: String,
    pub head: Id,
    pub base: Option<Id>,
    pub conflicts: Vec<ConflictDoc>,
    /// Conflicts a strategy settled (absent on a conflict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Vec<ConflictDoc>>,
}

#[derive(Debug, Serialize)]
pub struct Branch {
    pub name: String,
    pub head: Option<Id>,
    pub current: bool,
}

#[derive(Debug, Serialize)]
pub struct Branches {
    pub branches: Vec<Branch>,
}

#[derive(Debug, Serialize)]
pub struct BranchCreated {
    pub created: String,
    pub head: Option<Id>,
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    pub deleted: String,
}

#[derive(Debug, Serialize)]
pub struct CheckedOut {
    pub branch: String,
    pub head: Option<Id>,
    /// True when `checkout -b` created the branch.
    pub created: bool,
    /// True when changes are staged on the branch now (they came along).
    pub staged: bool,
}

#[derive(Debug, Serialize)]
pub struct ColumnCreated {
    pub created: Column,
}

#[derive(Debug, Serialize)]
pub struct Columns {
    pub columns: Vec<Column>,
}

#[derive(Debug, Serialize)]
pub struct ColumnRemoved {
    pub removed: String,
}

#[derive(Debug, Serialize)]
pub struct ImportCounts {
    pub imported: u64,
    pub overwritten: u64,
    pub skipped_existing: u64,
    pub unchanged: u64,
}

#[derive(Debug, Serialize)]
pub struct Import {
    pub columns: BTreeMap<String, ImportCounts>,
    pub files: usize,
    pub files_left_out: usize,
    pub commit: Option<Id>,
}

#[derive(Debug, Serialize)]
pub struct ImportPlanColumn {
    /// Samples the headers declare (null for a table read as a stream).
    pub samples: Option<u64>,
    /// The schema of the column `--create` would make (null: it exists).
    pub create: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ImportPlan {
    pub dry_run: bool,
    pub columns: BTreeMap<String, ImportPlanColumn>,
    pub files: usize,
    pub files_left_out: usize,
}

#[derive(Debug, Serialize)]
pub struct Export {
    pub column: String,
    pub commit: Id,
    pub format: String,
    pub path: PathBuf,
    pub written: usize,
}

#[derive(Debug, Serialize)]
pub struct Removed {
    pub column: String,
    pub deleted: usize,
}

#[derive(Debug, Serialize)]
pub struct MetadataList {
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct MetadataValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct MetadataSet {
    pub key: String,
    pub value: String,
    pub staged: bool,
}

#[derive(Debug, Serialize)]
pub struct MetadataDeleted {
    pub key: String,
    pub deleted: bool,
}

/// A value as `cat` describes it.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CatValue {
    #[serde(rename = "ndarray")]
    NdArray {
        dtype: &'static str,
        shape: Vec<usize>,
        min: Option<f64>,
        max: Option<f64>,
        mean: Option<f64>,
    },
    Str {
        value: String,
    },
    Bytes {
        length: usize,
    },
}

#[derive(Debug, Serialize)]
pub struct Cat {
    pub column: String,
    pub key: Key,
    #[serde(flatten)]
    pub value: CatValue,
}

#[derive(Debug, Serialize)]
pub struct CatSubsample {
    pub subkey: Key,
    #[serde(flatten)]
    pub value: CatValue,
}

#[derive(Debug, Serialize)]
pub struct CatNested {
    pub column: String,
    pub key: Key,
    pub subsamples: Vec<CatSubsample>,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Verify {
    pub ok: bool,
    pub branches: usize,
    pub commits: usize,
    pub nodes: usize,
    pub values: usize,
    pub value_bytes: u64,
    /// Values a remote holds that were not fetched here (not problems).
    pub not_fetched: usize,
    pub problems: Vec<Problem>,
    pub unreferenced: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct GcFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// Bytes of reachable contents (moved to a new file when rewritten).
    pub live_bytes: u64,
    /// Why a file no index run refers to was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Gc {
    pub dry_run: bool,
    /// Deleted (would be, with dry_run).
    pub removed: Vec<GcFile>,
    /// Mostly-dead files whose reachable contents moved to `written`; deleted too.
    pub rewritten: Vec<GcFile>,
    pub written: Vec<PathBuf>,
    /// Garbage left in place: something else had the repository open.
    pub deferred: Vec<GcFile>,
    /// Files no index run refers to that gc cannot prove garbage.
    pub kept: Vec<GcFile>,
    pub bytes_removed: u64,
    pub bytes_written: u64,
    pub live_entries: usize,
    pub dead_entries: usize,
    /// Commits kept only by reflog entries younger than `--prune`.
    pub reflog_only_commits: usize,
}

#[derive(Debug, Serialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub program: String,
    /// RFC 3339, UTC.
    pub since: String,
}

#[derive(Debug, Serialize)]
pub struct WriterLock {
    pub held: bool,
    pub holder: Option<Holder>,
}

#[derive(Debug, Serialize)]
pub struct WriterLockReleased {
    pub held: bool,
    pub released: bool,
    pub stale_record_cleared: bool,
}

#[derive(Debug, Serialize)]
pub struct QuickstartSummary {
    pub disk_usage_bytes: u64,
    pub columns: Vec<Column>,
}

#[derive(Debug, Serialize)]
pub struct Quickstart {
    pub path: PathBuf,
    pub head: Id,
    pub summary: QuickstartSummary,
    pub log: LogDoc,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_numbers_strings_or_pairs() {
        let j = |k: &DiffKey| serde_json::to_string(k).unwrap();
        assert_eq!(j(&DiffKey::One(Key::Int(7))), "7");
        assert_eq!(j(&DiffKey::One(Key::Str("7".into()))), "\"7\"");
        assert_eq!(j(&printed_key("\"s\"/3")), "[\"s\",3]");
        assert_eq!(j(&printed_key("12")), "12");
    }

    #[test]
    fn a_cat_value_is_flattened_beside_column_and_key() {
        let doc = Cat {
            column: "c".into(),
            key: Key::Int(1),
            value: CatValue::Str { value: "v".into() },
        };
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            serde_json::json!({"column": "c", "key": 1, "kind": "str", "value": "v"})
        );
    }
}
