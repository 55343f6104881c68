//! Remotes on object storage: a repository's commits, record tables and values pushed to
//! and fetched from an object store (`file:///dir`, `s3://bucket/prefix`) through the
//! `object_store` crate. The layout and the protocol, with the argument for why no
//! acknowledged push is lost on servers with and without conditional writes, are in
//! docs/format.md ("Remotes").
//!
//! Locally a remote is its configuration (`.hangar/remotes/<name>/config.json`: URL,
//! endpoint, region — never credentials, which come from the usual AWS environment
//! variables and files), its tracking refs (`.hangar/remotes/<name>/refs/<branch>`), and
//! the manifests fetched from it (`.hangar/remote-manifests/<name-hash>`), which say
//! where every value not fetched yet is: a read of such a value is `NotFetched`, not
//! `Corrupt`.

mod aws_profile;
mod conn;
mod data;
mod fetch;
mod local;
mod ondemand;
mod push;
mod s3;
mod state;
mod wire;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::repo::Repository;

pub use conn::install_tls_provider;
pub(crate) use local::{tracking_head, Promised};
pub(crate) use ondemand::OnDemand;
pub use ondemand::{StreamStats, DEFAULT_CACHE_BYTES};

pub use data::{FetchDataOptions, FetchDataReport};
pub use fetch::FetchReport;
pub use push::PushReport;

/// A remote as configured in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSpec {
    /// Its name in this repository (`origin`).
    pub name: String,
    /// `file:///absolute/dir` or `s3://bucket/prefix` (a directory given as a path,
    /// absolute or relative, becomes its `file://` URL where a remote is added, cloned
    /// or opened: [`RemoteSpec::resolved`]).
    pub url: String,
    /// For `s3://`: the server's endpoint (`http://127.0.0.1:3900`); otherwise
    /// `AWS_ENDPOINT_URL` or AWS itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// For `s3://`: the region; otherwise `AWS_REGION` / `AWS_DEFAULT_REGION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl RemoteSpec {
    /// This spec with a local directory given as a path turned into its `file://` URL,
    /// as `git clone` takes one: a path that starts with `/`, `./` or `../`, or names a
    /// directory that exists (relative to the current directory). Anything else (a URL,
    /// a typo of one) is kept as it is, for the URL check to judge.
    pub fn resolved(&self) -> Result<RemoteSpec> {
        let path = std::path::Path::new(&self.url);
        let looks_like_path = ["/", "./", "../"].iter().any(|p| self.url.starts_with(p))
            || [".", ".."].contains(&self.url.as_str())
            || path.is_dir();
        if self.url.contains("://") || !looks_like_path {
            return Ok(self.clone());
        }
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("find the current directory for", path, e))?
                .join(path)
        };
        let url = url::Url::from_file_path(&abs).map_err(|()| {
            Error::InvalidArgument(format!(
                "{:?} is neither a remote URL nor a directory path; give a directory, \
                 file:///absolute/path or s3://bucket/prefix",
                self.url
            ))
        })?;
        Ok(RemoteSpec {
            url: url.to_string(),
            ..self.clone()
        })
    }

    /// A remote named `name` at `url`, with no endpoint or region of its own.
    pub fn new(name: &str, url: &str) -> RemoteSpec {
        RemoteSpec {
            name: name.to_string(),
            url: url.to_string(),
            endpoint: None,
            region: None,
        }
    }
}

/// A branch head on a remote, as the last fetch or push saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingRef {
    /// The remote's name.
    pub remote: String,
    /// The branch on the remote.
    pub branch: String,
    /// Its head.
    pub head: crate::CommitId,
}

fn remotes_dir(repo: &Repository) -> PathBuf {
    repo.hangar_dir().join("remotes")
}

fn remote_dir(repo: &Repository, name: &str) -> PathBuf {
    remotes_dir(repo).join(name)
}

impl Repository {
    /// Adds a remote. `AlreadyExists` if one has that name; `InvalidArgument` for a bad
    /// name or URL (checked, not contacted).
    pub fn add_remote(&self, spec: &RemoteSpec) -> Result<()> {
        let spec = &spec.resolved()?;
        crate::names::check_name("remote name", &spec.name)?;
        s3::check_url(&spec.url)?;
        s3::check_s3_settings(
            spec.endpoint.as_deref(),
            spec.region.as_deref(),
            "given for this remote",
        )?;
        let dir = remote_dir(self, &spec.name);
        if dir.join("config.json").exists() {
            return Err(Error::AlreadyExists(format!(
                "a remote named {:?} already exists; remove it first or pick another name",
                spec.name
            )));
        }
        hangar_store::fs::create_dir_durable(&dir.join("refs"))?;
        let json = serde_json::to_vec_pretty(spec).expect("a spec serializes");
        hangar_store::fs::write_atomic(&dir.join("config.json"), &json)?;
        Ok(())
    }

    /// Removes a remote's configuration and tracking refs. What was fetched from it
    /// stays, and so does the record of where its unfetched values are (another remote
    /// at the same URL can still fetch them).
    pub fn remove_remote(&self, name: &str) -> Result<()> {
        self.remote(name)?;
        let dir = remote_dir(self, name);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        hangar_store::fs::fsync_dir(&remotes_dir(self))?;
        Ok(())
    }

    /// Every configured remote, sorted by name.
    pub fn remotes(&self) -> Result<Vec<RemoteSpec>> {
        // remote_names is sorted, and skips a directory whose config never landed (an
        // `add_remote` killed before its atomic write).
        self.remote_names()?
            .iter()
            .map(|name| self.remote(name))
            .collect()
    }

    /// The remote named `name`; `NotFound` (listing the remotes) if there is none.
    pub fn remote(&self, name: &str) -> Result<RemoteSpec> {
        crate::names::check_name("remote name", name)?;
        let path = remote_dir(self, name).join("config.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let known: Vec<String> = self.remote_names()?;
                return Err(Error::NotFound(format!(
                    "no remote named {name:?} (remotes: {}); add one with `hangar remote add \
                     {name} <url>`",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let mut spec: RemoteSpec = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupt(&path, format!("remote config is not valid: {e}")))?;
        spec.name = name.to_string();
        Ok(spec)
    }

    fn remote_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for e in local::entries(&remotes_dir(self))? {
            let name = e.file_name().to_string_lossy().into_owned();
            if crate::names::is_valid_name(&name) && e.path().join("config.json").exists() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// How the remote keeps its branches: `Some("cas")` on a server that honours
    /// create-only writes, `Some("per-commit")` on one that may overwrite (racing pushes
    /// then stay as two heads), `None` before the first push. Contacts the remote.
    pub fn remote_ref_mode(&self, name: &str) -> Result<Option<&'static str>> {
        let conn = conn::Conn::open(&self.remote(name)?)?;
        Ok(state::read_marker(&conn)?.map(|m| m.as_str()))
    }

    /// The branch heads the last fetch or push saw on every remote.
    pub fn tracking_refs(&self) -> Result<Vec<TrackingRef>> {
        let mut out = Vec::new();
        for name in self.remote_names()? {
            for (branch, head) in local::read_tracking(self, &name)? {
                out.push(TrackingRef {
                    remote: name.clone(),
                    branch,
                    head,
                });
            }
        }
        Ok(out)
    }
}

/// The remote decoders, for the fuzz targets (`internal-api` only): true if accepted.
#[cfg(feature = "internal-api")]
#[doc(hidden)]
pub mod decoders {
    /// Decodes a manifest; on success, its encoding must decode to the same manifest.
    pub fn manifest(b: &[u8]) -> bool {
        match super::wire::Manifest::decode(b) {
            Ok(m) => {
                assert_eq!(super::wire::Manifest::decode(&m.encode()).ok(), Some(m));
                true
            }
            Err(_) => false,
        }
    }

    /// Parses a remote's marker.
    pub fn marker(b: &[u8]) -> bool {
        super::wire::decode_marker(b).is_ok()
    }

    /// Parses a ref entry name and body.
    pub fn ref_entry(b: &[u8]) -> bool {
        let name = std::str::from_utf8(b)
            .ok()
            .and_then(super::wire::RefEntry::parse);
        name.is_some() | super::wire::decode_ref_body(b).is_some()
    }
}

#[cfg(test)]
mod tests;
