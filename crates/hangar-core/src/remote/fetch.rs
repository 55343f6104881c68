//! `fetch` (history and record tables), `clone` and `pull`.

use std::collections::BTreeMap;
use std::ops::Range;

use hangar_store::{Digest, DigestSet, Object};

use super::conn::Conn;
use super::data::{check_crc, read_ranges, FetchDataOptions};
use super::local;
use super::state;
use super::wire::{Bundle, Loc, Manifest};
use super::RemoteSpec;
use crate::commit::CommitId;
use crate::error::{Error, Result};
use crate::repo::Repository;

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// The remote's name.
    pub remote: String,
    /// Each branch fetched and the head its tracking ref now names.
    pub branches: Vec<(String, CommitId)>,
    /// Branches with more than one head on the remote (two pushes raced on a server
    /// without create-only writes): the branch, and every head beyond the newest. Merge
    /// them (`hangar merge <commit>`) and push.
    pub diverged: Vec<(String, Vec<CommitId>)>,
    /// Metadata objects received.
    pub objects: usize,
    /// Bytes received.
    pub bytes: u64,
}

impl std::fmt::Display for FetchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} objects ({}) from {}",
            self.objects,
            crate::repo::human_bytes(self.bytes),
            self.remote
        )?;
        for (b, h) in &self.branches {
            write!(f, "\n  {}/{b} -> {}", self.remote, h.short())?;
        }
        for (b, others) in &self.diverged {
            let list: Vec<String> = others.iter().map(|c| c.short()).collect();
            write!(
                f,
                "\n  {}/{b} has diverged: other heads {} (merge them and push)",
                self.remote,
                list.join(", ")
            )?;
        }
        Ok(())
    }
}

impl Repository {
    /// Fetches the history and record tables of `branch` (every branch if `None`) from
    /// `remote` — no sample values: those come with [`Repository::fetch_data`] — and
    /// moves the tracking refs (`<remote>/<branch>`). Takes the writer lock while it
    /// stores what it received (`Locked` if a writer is open); the staging area is left
    /// as it is. Every object is checked (CRC, then digest) before anything is stored.
    pub fn fetch(&self, remote: &str, branch: Option<&str>) -> Result<FetchReport> {
        let spec = self.remote(remote)?;
        local::remove_orphans(self, remote)?;
        let conn = Conn::open(&spec)?;
        let mode = state::read_marker(&conn)?.ok_or_else(|| {
            let repository = url::Url::parse(&spec.url)
                .ok()
                .filter(|u| u.scheme() == "file")
                .and_then(|u| u.to_file_path().ok())
                .filter(|p| p.join(crate::repo::HANGAR_DIR).is_dir());
            match repository {
                Some(p) => Error::NotFound(format!(
                    "remote {remote} ({}) is a repository, not a remote: a remote is the \
                     directory or bucket that `hangar push` writes. In {}, run `hangar \
                     remote add origin file:///some/dir` and `hangar push origin master`, \
                     then use file:///some/dir",
                    spec.url,
                    p.display()
                )),
                None => Error::NotFound(format!(
                    "remote {remote} ({}) holds no repository yet; push to it first",
                    spec.url
                )),
            }
        })?;
        // Refs before manifests: a ref is written after the manifest of its commit, so
        // every ref read here has its manifest in the listing that follows.
        let mut entries = state::list_entries(&conn)?;
        if let Some(b) = branch {
            crate::names::check_branch_name(b)?;
            let e = entries
                .remove(b)
                .ok_or_else(|| Error::NotFound(format!("remote {remote} has no branch {b:?}")))?;
            entries = BTreeMap::from([(b.to_string(), e)]);
        }
        let fresh = state::new_manifests(self, &conn)?;
        let mut report = FetchReport {
            remote: remote.to_string(),
            ..FetchReport::default()
        };
        // Every object any manifest lists that is not here (a fetch cut short earlier
        // left its manifests unsaved, or saved by a push: both are picked up here).
        let mut all: Vec<Manifest> = local::load_manifests(self.hangar_dir())?
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        all.extend(fresh.iter().map(|(_, m, _)| m.clone()));
        let objects = self.receive_objects(&conn, &all, &mut report.bytes)?;
        report.objects = objects.len();
        if !objects.is_empty() {
            let co = self.checkout_writer()?;
            let stored = co.ingest(&[], objects);
            co.close()?;
            stored?;
        }
        for (name, _, bytes) in &fresh {
            local::save_manifest(self, name, bytes)?;
        }
        self.shared().forget_promised();
        for (b, es) in &entries {
            let heads = state::branch_heads(self, &conn, mode, b, es)?;
            let Some(&(_, newest, local)) = heads.first() else {
                continue;
            };
            if !local {
                return Err(Error::Remote(format!(
                    "remote {remote}: branch {b:?} names commit {} that no manifest on the \
                     remote holds (the remote is damaged, or was written by another tool)",
                    newest.short()
                )));
            }
            local::write_tracking(self, remote, b, &newest)?;
            report.branches.push((b.clone(), CommitId(newest)));
            if heads.len() > 1 {
                report.diverged.push((
                    b.clone(),
                    heads[1..].iter().map(|h| CommitId(h.1)).collect(),
                ));
            }
        }
        Ok(report)
    }

    /// Downloads the objects `manifests` list that this repository lacks, checking
    /// each one's CRC-32 (its digest is checked when stored).
    fn receive_objects(
        &self,
        conn: &Conn,
        manifests: &[Manifest],
        received: &mut u64,
    ) -> Result<Vec<Object>> {
        let store = &self.shared().store;
        store.refresh()?;
        let mut wanted: BTreeMap<Bundle, Vec<(Digest, u8, Loc)>> = BTreeMap::new();
        let mut seen = DigestSet::default();
        for m in manifests {
            for &(d, t, loc) in &m.objects {
                if seen.insert(d) && !store.is_stored(&d)? {
                    wanted
                        .entry(m.bundles[loc.bundle as usize])
                        .or_default()
                        .push((d, t, loc));
                }
            }
        }
        let mut out = Vec::new();
        for (bundle, items) in wanted {
            let ranges: Vec<Range<u64>> = items
                .iter()
                .map(|(_, _, l)| l.offset..l.offset + l.len)
                .collect();
            let bytes = read_ranges(conn, &bundle, &ranges, received)?;
            for ((d, t, loc), b) in items.into_iter().zip(bytes) {
                check_crc(conn, &bundle, &d, &loc, &b)?;
                out.push(Object {
                    type_code: t,
                    digest: d,
                    bytes: b.to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// Clones the repository at `spec.url` into a new repository at `path` (which must
    /// not hold one): adds the remote as `spec.name`, fetches every branch's history and
    /// record tables, and sets the local `master` (or `branch`) to the remote's head.
    /// With `data`, every value of that head and its history is fetched too (a complete
    /// copy); without, values are fetched on demand with [`Repository::fetch_data`].
    pub fn clone_from(
        path: impl AsRef<std::path::Path>,
        spec: &RemoteSpec,
        user_name: &str,
        user_email: &str,
        branch: Option<&str>,
        data: bool,
    ) -> Result<(Repository, FetchReport)> {
        let path = path.as_ref();
        if path.join(crate::repo::HANGAR_DIR).exists() {
            return Err(Error::AlreadyExists(format!(
                "{} already holds a repository; clone into a new directory",
                path.display()
            )));
        }
        let spec = &spec.resolved()?;
        super::s3::check_url(&spec.url)?;
        // A clone that fails (unreachable server, refused credentials, a damaged object)
        // leaves nothing behind: the directory it made, or the repository it made in an
        // existing directory, is removed again.
        let existed = path.exists();
        let result = Self::clone_into(path, spec, user_name, user_email, branch, data);
        if result.is_err() {
            let made = if existed {
                path.join(crate::repo::HANGAR_DIR)
            } else {
                path.to_path_buf()
            };
            let _ = std::fs::remove_dir_all(made);
        }
        result
    }

    fn clone_into(
        path: &std::path::Path,
        spec: &RemoteSpec,
        user_name: &str,
        user_email: &str,
        branch: Option<&str>,
        data: bool,
    ) -> Result<(Repository, FetchReport)> {
        let repo = Repository::init(path, user_name, user_email, false)?;
        repo.add_remote(spec)?;
        let report = repo.fetch(&spec.name, None)?;
        let want = branch.unwrap_or(crate::refs::DEFAULT_BRANCH);
        let Some((b, head)) = report
            .branches
            .iter()
            .find(|(b, _)| b == want)
            .or_else(|| report.branches.first().filter(|_| branch.is_none()))
            .cloned()
        else {
            if let Some(b) = branch {
                return Err(Error::NotFound(format!(
                    "remote {} has no branch {b:?}",
                    spec.url
                )));
            }
            return Ok((repo, report)); // an empty remote: an empty clone
        };
        let tracking = format!("{}/{b}", spec.name);
        if b == crate::refs::DEFAULT_BRANCH {
            repo.merge("", &b, &tracking)?;
        } else {
            repo.create_branch(&b, Some(&tracking))?;
        }
        if data {
            let all = FetchDataOptions {
                history: true,
                ..FetchDataOptions::default()
            };
            repo.fetch_data(&spec.name, &head.to_hex(), &all)?;
        }
        Ok((repo, report))
    }

    /// Fetches `branch` from `remote` and merges `<remote>/<branch>` into the local
    /// branch of the same name (created at the remote's head if there is none): a
    /// fast-forward when possible, otherwise a merge commit with `message`. If the
    /// remote's branch has diverged (two heads), each is merged in.
    pub fn pull(
        &self,
        remote: &str,
        branch: &str,
        message: &str,
    ) -> Result<(FetchReport, crate::merge::MergeOutcome)> {
        let report = self.fetch(remote, Some(branch))?;
        let tracking = format!("{remote}/{branch}");
        if !crate::refs::branch_exists(self.hangar_dir(), branch)?
            && branch != crate::refs::DEFAULT_BRANCH
        {
            self.create_branch(branch, Some(&tracking))?;
            let head = self.resolve(&tracking)?;
            return Ok((
                report,
                crate::merge::MergeOutcome::FastForward {
                    from: None,
                    to: head,
                },
            ));
        }
        let mut outcome = self.merge(message, branch, &tracking)?;
        // A branch that diverged on the remote (racing pushes on a server without
        // create-only writes): every other head is merged in too, so the next push
        // joins them.
        for (b, others) in &report.diverged {
            if b == branch {
                for h in others {
                    outcome = self.merge(message, branch, &h.to_hex())?;
                }
            }
        }
        Ok((report, outcome))
    }
}
