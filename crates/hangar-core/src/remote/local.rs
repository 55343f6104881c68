//! What a repository keeps about its remotes: tracking refs and the manifests fetched.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hangar_store::{Digest, DigestSet};

use super::wire::Manifest;
use crate::commit::CommitId;
use crate::error::{Error, Result};
use crate::repo::Repository;

/// `.hangar/remote-manifests`: every manifest fetched from or pushed to any remote,
/// named by its hash (what the remote names it by).
pub(crate) fn manifests_dir(hangar: &Path) -> PathBuf {
    hangar.join("remote-manifests")
}

/// The entries of directory `dir`; none if it does not exist (nothing saved there yet).
pub(crate) fn entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(rd.flatten().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("list", dir, e)),
    }
}

/// The names of the manifests saved here.
pub(crate) fn saved_manifest_names(repo: &Repository) -> Result<HashSet<Digest>> {
    let dir = manifests_dir(repo.hangar_dir());
    let mut out = HashSet::new();
    for e in entries(&dir)? {
        if let Some(d) = Digest::from_hex(&e.file_name().to_string_lossy()) {
            out.insert(d);
        }
    }
    Ok(out)
}

/// Saves a manifest (checked by the caller) under its name.
pub(crate) fn save_manifest(repo: &Repository, name: &Digest, bytes: &[u8]) -> Result<()> {
    let dir = manifests_dir(repo.hangar_dir());
    hangar_store::fs::create_dir_durable(&dir)?;
    hangar_store::fs::write_atomic(&dir.join(name.to_hex()), bytes)?;
    Ok(())
}

/// Every saved manifest, checked again as it is read.
pub(crate) fn load_manifests(hangar: &Path) -> Result<Vec<(Digest, Manifest)>> {
    let dir = manifests_dir(hangar);
    let mut out = Vec::new();
    for e in entries(&dir)? {
        let Some(name) = Digest::from_hex(&e.file_name().to_string_lossy()) else {
            continue;
        };
        let path = e.path();
        let bytes = hangar_store::fs::read_file(&path)?;
        if super::wire::content_name(&bytes) != name {
            return Err(Error::corrupt(
                &path,
                "saved manifest does not hash to its name",
            ));
        }
        let m = Manifest::decode(&bytes)
            .map_err(|err| Error::corrupt(&path, format!("saved manifest: {err}")))?;
        out.push((name, m));
    }
    Ok(out)
}

fn tracking_dir(repo: &Repository, remote: &str) -> PathBuf {
    super::remote_dir(repo, remote).join("refs")
}

/// A remote's tracking refs: (branch, head), sorted by branch.
pub(crate) fn read_tracking(repo: &Repository, remote: &str) -> Result<Vec<(String, CommitId)>> {
    let dir = tracking_dir(repo, remote);
    let mut out = Vec::new();
    for e in entries(&dir)? {
        let branch = e.file_name().to_string_lossy().into_owned();
        // A push or fetch killed while it moved a tracking ref leaves a temporary file.
        if hangar_store::fs::is_temp_name(&branch)
            || crate::names::check_branch_name(&branch).is_err()
        {
            continue;
        }
        out.push((branch.clone(), tracking_head(repo, remote, &branch)?));
    }
    out.sort();
    Ok(out)
}

/// One tracking ref's head; `NotFound` if the remote's branch was never seen.
pub(crate) fn tracking_head(repo: &Repository, remote: &str, branch: &str) -> Result<CommitId> {
    repo.remote(remote)?;
    let path = tracking_dir(repo, remote).join(branch);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!(
                "no branch {branch:?} seen on remote {remote:?}; run `hangar fetch {remote}`"
            )))
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    super::wire::decode_ref_body(&bytes)
        .map(CommitId)
        .ok_or_else(|| Error::corrupt(&path, "tracking ref does not hold a commit id"))
}

/// Records where a remote's branch was seen.
pub(crate) fn write_tracking(
    repo: &Repository,
    remote: &str,
    branch: &str,
    head: &Digest,
) -> Result<()> {
    let dir = tracking_dir(repo, remote);
    hangar_store::fs::create_dir_durable(&dir)?;
    hangar_store::fs::write_atomic(&dir.join(branch), format!("{}\n", head.to_hex()).as_bytes())?;
    Ok(())
}

/// Removes what killed pushes and fetches of `remote` left half-written: temporary
/// tracking refs and manifests. Pushes write both without the writer lock, so only the
/// files of processes that have exited go. Each push and fetch starts with this.
pub(crate) fn remove_orphans(repo: &Repository, remote: &str) -> Result<()> {
    hangar_store::fs::remove_orphan_temp_files(&tracking_dir(repo, remote))?;
    hangar_store::fs::remove_orphan_temp_files(&manifests_dir(repo.hangar_dir()))?;
    Ok(())
}

/// The values the saved manifests say a remote holds, loaded on first use: a value
/// missing here but listed there is not fetched yet, not lost.
#[derive(Debug, Default)]
pub(crate) struct Promised {
    values: OnceLock<DigestSet>,
}

impl Promised {
    /// True if a remote holds `digest` (as far as the saved manifests say).
    pub fn contains(&self, hangar: &Path, digest: &Digest) -> bool {
        self.values
            .get_or_init(|| {
                let mut set = DigestSet::default();
                // An unreadable manifest promises nothing: the read then reports the
                // value as missing, which verify explains.
                if let Ok(ms) = load_manifests(hangar) {
                    for (_, m) in ms {
                        set.extend(m.values.iter().map(|(d, _)| *d));
                    }
                }
                set
            })
            .contains(digest)
    }
}
