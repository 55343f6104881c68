//! Reading a remote's state: its marker, a branch's ref entries and heads, and the
//! manifests this repository has not seen yet.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use hangar_store::Digest;

use super::conn::Conn;
use super::local;
use super::wire::{self, Manifest, RefEntry, RefMode};
use crate::error::{Error, Result};
use crate::repo::Repository;

/// The remote's ref mode, or `None` if nothing was ever pushed to it.
pub(crate) fn read_marker(conn: &Conn) -> Result<Option<RefMode>> {
    match conn.get(wire::MARKER)? {
        None => Ok(None),
        Some(b) => wire::decode_marker(&b)
            .map(Some)
            .map_err(|m| Error::Remote(format!("remote {} cannot be used: {m}", conn.url))),
    }
}

/// The remote's ref mode, writing the marker first if the remote is new: the mode is
/// chosen by trying a create-only write twice on one name (a server that honours
/// `If-None-Match: *` refuses the second).
pub(crate) fn ensure_marker(conn: &Conn) -> Result<RefMode> {
    if let Some(mode) = read_marker(conn)? {
        return Ok(mode);
    }
    let seed = format!("{:?}-{}", std::time::SystemTime::now(), std::process::id());
    let probe = format!("probe/{}", &blake3::hash(seed.as_bytes()).to_hex()[..16]);
    conn.put_create(&probe, Bytes::from_static(b"1"))?;
    let overwrote = conn.put_create(&probe, Bytes::from_static(b"2"))?;
    conn.delete(&probe)?;
    let mode = if overwrote {
        RefMode::PerCommit
    } else {
        RefMode::Cas
    };
    // Two first pushes may race here: whichever marker landed is the one to keep to.
    conn.put_create(wire::MARKER, Bytes::from(wire::encode_marker(mode)))?;
    read_marker(conn)?.ok_or_else(|| {
        Error::Remote(format!(
            "remote {}: the marker just written cannot be read back",
            conn.url
        ))
    })
}

/// Every branch's ref entries on the remote, by branch, lowest sequence first.
pub(crate) fn list_entries(conn: &Conn) -> Result<BTreeMap<String, Vec<RefEntry>>> {
    let mut out: BTreeMap<String, Vec<RefEntry>> = BTreeMap::new();
    for (name, _) in conn.list("refs")? {
        let Some((branch, entry)) = name.split_once('/') else {
            continue;
        };
        if !crate::names::is_valid_name(branch) {
            continue;
        }
        if let Some(e) = RefEntry::parse(entry) {
            out.entry(branch.to_string()).or_default().push(e);
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|e| e.seq);
    }
    Ok(out)
}

/// The commit a ref entry names (read from its body when its name does not say).
fn entry_commit(conn: &Conn, branch: &str, e: &RefEntry) -> Result<Digest> {
    if let Some(c) = e.commit {
        return Ok(c);
    }
    let key = format!("refs/{branch}/{}", RefEntry::name(e.seq, None));
    let body = conn.get(&key)?.ok_or_else(|| {
        Error::Remote(format!(
            "remote {}: ref entry {key} vanished while read",
            conn.url
        ))
    })?;
    wire::decode_ref_body(&body).ok_or_else(|| {
        Error::Remote(format!(
            "remote {}: ref entry {key} does not hold a commit id (damaged)",
            conn.url
        ))
    })
}

/// A branch's heads on the remote, newest first: the commits of its entries that no
/// other entry's commit descends from. With create-only writes honoured (`Cas`) that is
/// the newest entry alone; otherwise two pushes may have raced and both stay. Needs the
/// entries' commits locally (fetch first); `None` for a commit that is not.
pub(crate) fn branch_heads(
    repo: &Repository,
    conn: &Conn,
    mode: RefMode,
    branch: &str,
    entries: &[RefEntry],
) -> Result<Vec<(u64, Digest, bool)>> {
    let Some(last) = entries.last() else {
        return Ok(Vec::new());
    };
    if mode == RefMode::Cas && entries.iter().all(|e| e.commit.is_none()) {
        let c = entry_commit(conn, branch, last)?;
        return Ok(vec![(last.seq, c, has_commit(repo, &c)?)]);
    }
    let mut heads = Vec::new();
    let mut covered: HashSet<Digest> = HashSet::new();
    for e in entries.iter().rev() {
        let c = entry_commit(conn, branch, e)?;
        if covered.contains(&c) {
            continue;
        }
        let local = has_commit(repo, &c)?;
        if local {
            covered.extend(crate::branch::ancestors(repo, c)?);
        } else {
            covered.insert(c);
        }
        heads.push((e.seq, c, local));
    }
    Ok(heads)
}

/// True if the commit object is stored here.
pub(crate) fn has_commit(repo: &Repository, c: &Digest) -> Result<bool> {
    let store = &repo.shared().store;
    if store.is_stored(c)? {
        return Ok(true);
    }
    store.refresh()?;
    Ok(store.is_stored(c)?)
}

/// The remote's manifests this repository has not saved: each downloaded, checked
/// against its name (the BLAKE3 of its bytes) and decoded. Not saved yet: the caller
/// saves them once what they describe is in place.
pub(crate) fn new_manifests(
    repo: &Repository,
    conn: &Conn,
) -> Result<Vec<(Digest, Manifest, Bytes)>> {
    let seen = local::saved_manifest_names(repo)?;
    let mut out = Vec::new();
    for (name, _) in conn.list("manifests")? {
        let Some(d) = Digest::from_hex(&name) else {
            continue;
        };
        if seen.contains(&d) {
            continue;
        }
        let key = format!("manifests/{name}");
        let bytes = conn.get(&key)?.ok_or_else(|| {
            Error::Remote(format!("remote {}: {key} vanished while read", conn.url))
        })?;
        if super::wire::content_name(&bytes) != d {
            return Err(Error::Remote(format!(
                "remote {}: {key} does not hash to its name: it is damaged on the remote or \
                 was cut short in transit; nothing was stored here (retry; if it persists, \
                 the remote needs repair)",
                conn.url
            )));
        }
        let m = Manifest::decode(&bytes).map_err(|e| {
            Error::Remote(format!(
                "remote {}: {key} is malformed ({e}); nothing was stored here",
                conn.url
            ))
        })?;
        out.push((d, m, bytes));
    }
    Ok(out)
}
