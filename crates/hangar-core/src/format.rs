//! `.hangar/format` (format version and feature flags) and `.hangar/config.json` (user
//! identity).

use std::path::Path;

use hangar_store::fs as fsutil;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};

/// Name of the format file.
pub const FORMAT_FILE: &str = "format";
/// Name of the config file.
pub const CONFIG_FILE: &str = "config.json";
/// The format version this build writes and reads. Version 2 keeps values of at most
/// [`crate::schema::INLINE_MAX`] bytes in their records; a version-1 record table reads
/// differently, so version 1 is refused (there are no released version-1 repositories).
pub const FORMAT_VERSION: u32 = 2;
/// Features every repository this build creates lists.
pub const BASE_FEATURES: &[&str] = &[
    "arrow-ipc-segments",
    "prolly-record-tables",
    "lsm-digest-index",
    "staging-journal",
    "inline-small-values",
];
/// Listed once a compressed column is created: its schema records a compression and its
/// sealed values are Parquet segments, which a build without the feature cannot read.
pub const PARQUET_SEGMENTS: &str = "parquet-segments";
/// Features this build understands. A repository listing a feature not here is refused.
pub const KNOWN_FEATURES: &[&str] = &[
    "arrow-ipc-segments",
    "prolly-record-tables",
    "lsm-digest-index",
    "staging-journal",
    "inline-small-values",
    PARQUET_SEGMENTS,
];

#[derive(Debug, Serialize, Deserialize)]
struct FormatFile {
    format: String,
    version: u32,
    features: Vec<String>,
}

/// Writes the format file of a new repository.
pub fn write_format(dir: &Path) -> Result<()> {
    let f = FormatFile {
        format: "libhangar".into(),
        version: FORMAT_VERSION,
        features: BASE_FEATURES.iter().map(|s| s.to_string()).collect(),
    };
    let json = serde_json::to_vec_pretty(&f).map_err(|e| invalid(e.to_string()))?;
    Ok(fsutil::write_atomic(&dir.join(FORMAT_FILE), &json)?)
}

/// Adds `feature` to the repository's format file (atomically; nothing if listed), so
/// that a build that does not know it refuses the repository rather than misread it.
/// Called under the writer lock, before anything that needs the feature is written.
pub fn enable_feature(dir: &Path, feature: &str) -> Result<()> {
    let path = dir.join(FORMAT_FILE);
    let bytes = fsutil::read_file(&path)?;
    let mut f: FormatFile = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("unreadable format file: {e}")))?;
    if f.features.iter().any(|x| x == feature) {
        return Ok(());
    }
    f.features.push(feature.to_string());
    let json = serde_json::to_vec_pretty(&f).map_err(|e| invalid(e.to_string()))?;
    Ok(fsutil::write_atomic(&path, &json)?)
}

/// Reads and checks the format file: refuses a newer version or an unknown feature.
/// Returns the repository's format version.
pub fn check_format(dir: &Path) -> Result<u32> {
    let path = dir.join(FORMAT_FILE);
    let bytes = fsutil::read_file(&path)?;
    let f: FormatFile = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("unreadable format file: {e}")))?;
    if f.format != "libhangar" {
        return Err(Error::Unsupported(format!(
            "{} is a {:?} repository, not libhangar",
            dir.display(),
            f.format
        )));
    }
    if f.version > FORMAT_VERSION {
        return Err(Error::Unsupported(format!(
            "the repository at {} uses format version {}, newer than this build supports ({FORMAT_VERSION}); upgrade libhangar to open it",
            dir.display(),
            f.version
        )));
    }
    if f.version < FORMAT_VERSION {
        return Err(Error::Unsupported(format!(
            "the repository at {} uses format version {}, written by a development build of libhangar before its first release; this build reads version {FORMAT_VERSION} only (version 2 stores small values inside record tables, which version 1 reads differently). Export its data with the build that wrote it (`hangar export`) and import it into a new repository",
            dir.display(),
            f.version
        )));
    }
    let unknown: Vec<_> = f
        .features
        .iter()
        .filter(|x| !KNOWN_FEATURES.contains(&x.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Unsupported(format!(
            "the repository at {} uses features this build does not know ({}); upgrade libhangar to open it",
            dir.display(),
            unknown.join(", ")
        )));
    }
    Ok(f.version)
}

/// The user identity recorded in commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConfigFile {
    user: User,
}

/// Checks a user name or email: non-empty, one line, no control characters.
pub fn check_identity(what: &str, s: &str) -> Result<()> {
    if s.trim().is_empty() {
        return Err(invalid(format!(
            "the user {what} is empty; give a non-empty {what}"
        )));
    }
    if s.chars().any(char::is_control) || s.len() > 256 {
        return Err(invalid(format!(
            "the user {what} {s:?} must be one line of at most 256 bytes"
        )));
    }
    Ok(())
}

/// Writes the config file.
pub fn write_config(dir: &Path, user: &User) -> Result<()> {
    let json = serde_json::to_vec_pretty(&ConfigFile { user: user.clone() })
        .map_err(|e| invalid(e.to_string()))?;
    Ok(fsutil::write_atomic(&dir.join(CONFIG_FILE), &json)?)
}

/// Reads the config file.
pub fn read_config(dir: &Path) -> Result<User> {
    let path = dir.join(CONFIG_FILE);
    let bytes = fsutil::read_file(&path)?;
    let c: ConfigFile = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(&path, format!("unreadable config: {e}")))?;
    Ok(c.user)
}
