//! A connection to a remote's object store: `object_store` (async) driven from
//! synchronous code on a small runtime of its own, with bounded retries and timeouts,
//! and its errors turned into ours.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::s3::{check_s3_settings, endpoint_of, require_credentials, s3_prefix, with_aws_profile};
use super::RemoteSpec;
use crate::error::{Error, Result};

/// Requests that fail for a transient reason (a 5xx, a timeout, a reset connection) are
/// retried this many times, with exponential backoff...
const MAX_RETRIES: usize = 3;
/// ...for at most this long in all.
const RETRY_TIMEOUT: Duration = Duration::from_secs(20);
/// A request (connect included) that takes longer fails (`HANGAR_REMOTE_TIMEOUT`, in
/// seconds, overrides it: a slow link needs more, a test of a hanging server less).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The variable that sets the request timeout.
pub(crate) const TIMEOUT_VAR: &str = "HANGAR_REMOTE_TIMEOUT";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The variable that says whether requests share connections: `1` (kept alive and
/// reused) or `0` (one connection per request, `Connection: close`).
const KEEPALIVE_VAR: &str = "HANGAR_REMOTE_KEEPALIVE";
/// Range requests in flight at once (a sample read is one small request: latency, not
/// bandwidth, bounds them).
const RANGE_REQUESTS: usize = 32;
/// Whole bundles uploaded or downloaded at once.
pub(crate) const PARALLEL_TRANSFERS: usize = 4;

/// A connection to one remote.
///
/// It belongs to the process that opened it. A forked child (a PyTorch `DataLoader`
/// worker, a multiprocessing pool) inherits it without the runtime's threads and with
/// the parent's sockets: using it there is refused with a clear error, and dropping it
/// there leaves the runtime and client alone (shutting the runtime down would wait for
/// threads that do not exist in the child: forever).
pub(crate) struct Conn {
    rt: Arc<tokio::runtime::Runtime>,
    store: Arc<dyn ObjectStore>,
    /// The process that opened it.
    pid: u32,
    prefix: StorePath,
    /// The URL, for messages.
    pub url: String,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // In a forked child: one reference of each is leaked, so the fields' drops
            // free nothing (see the type's documentation).
            std::mem::forget(self.rt.clone());
            std::mem::forget(self.store.clone());
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({})", self.url)
    }
}

impl Conn {
    /// Connects to the remote `spec` describes (nothing is sent yet).
    pub fn open(spec: &RemoteSpec) -> Result<Conn> {
        let url = url::Url::parse(&spec.url).map_err(|e| {
            Error::InvalidArgument(format!(
                "{:?} is not a remote URL ({e}); give file:///absolute/path or \
                 s3://bucket/prefix",
                spec.url
            ))
        })?;
        let (store, prefix): (Arc<dyn ObjectStore>, StorePath) = match url.scheme() {
            "file" => {
                let path = url.to_file_path().map_err(|()| {
                    Error::InvalidArgument(format!(
                        "{:?} is not a file URL of an absolute path (file:///dir)",
                        spec.url
                    ))
                })?;
                std::fs::create_dir_all(&path).map_err(|e| {
                    Error::Remote(format!(
                        "cannot create the remote directory {}: {e}",
                        path.display()
                    ))
                })?;
                let fs = LocalFileSystem::new_with_prefix(&path)
                    .map_err(|e| remote_err(&spec.url, "open", e))?
                    .with_fsync(true);
                (Arc::new(fs), StorePath::default())
            }
            "s3" => {
                install_tls_provider();
                let bucket = url.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "{:?} names no bucket: give s3://bucket/prefix",
                        spec.url
                    )));
                }
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(ep) = &spec.endpoint {
                    // Both keys: object_store prefers AWS_ENDPOINT_URL_S3's to the
                    // endpoint, and the remote's own setting wins over the environment.
                    b = b
                        .with_endpoint(ep)
                        .with_config(AmazonS3ConfigKey::S3Endpoint, ep);
                }
                if let Some(r) = &spec.region {
                    b = b.with_region(r);
                }
                let env = |k: &str| std::env::var(k).ok();
                b = with_aws_profile(b, &env)?;
                let endpoint = endpoint_of(&b);
                check_s3_settings(
                    endpoint.as_deref(),
                    b.get_config_value(&AmazonS3ConfigKey::Region).as_deref(),
                    "from the remote's settings, the environment or the AWS profile",
                )?;
                require_credentials(&b, &spec.url, endpoint.as_deref(), &env)?;
                // Plain HTTP only to an endpoint given as http:// (a server on the local
                // network or loopback); the client options carry the setting.
                let allow_http = endpoint.is_some_and(|e| e.starts_with("http://"));
                let timeout = request_timeout()?;
                let mut options = ClientOptions::new()
                    .with_allow_http(allow_http)
                    .with_timeout(timeout)
                    .with_connect_timeout(CONNECT_TIMEOUT.min(timeout));
                if !keep_alive(allow_http, std::env::var(KEEPALIVE_VAR).ok().as_deref())? {
                    let mut close = reqwest::header::HeaderMap::new();
                    close.insert(
                        reqwest::header::CONNECTION,
                        reqwest::header::HeaderValue::from_static("close"),
                    );
                    options = options.with_default_headers(close);
                }
                let store = b
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig::default(),
                        max_retries: MAX_RETRIES,
                        retry_timeout: RETRY_TIMEOUT,
                    })
                    .with_client_options(options)
                    .build()
                    .map_err(|e| remote_err(&spec.url, "configure", e))?;
                (Arc::new(store), s3_prefix(&url)?)
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "remote URL scheme {other:?} is not supported; give file:///path or \
                     s3://bucket/prefix"
                )))
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Remote(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Conn {
            rt: Arc::new(rt),
            store,
            pid: std::process::id(),
            prefix,
            url: spec.url.clone(),
        })
    }

    /// The runtime, in the process that opened the connection; an error in any other.
    fn rt(&self) -> Result<&tokio::runtime::Runtime> {
        if std::process::id() != self.pid {
            return Err(Error::Remote(format!(
                "remote {}: this connection was opened by process {} and cannot be used \
                 in process {} (forked from it); open the repository again in this process \
                 (a dataloader worker opens its own)",
                self.url,
                self.pid,
                std::process::id()
            )));
        }
        Ok(&self.rt)
    }

    fn key(&self, rel: &str) -> StorePath {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The object `rel`, or `None` if the remote has none by that name.
    pub fn get(&self, rel: &str) -> Result<Option<Bytes>> {
        let key = self.key(rel);
        let got = self.rt()?.block_on(async {
            let r = self.store.get(&key).await?;
            r.bytes().await
        });
        match got {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote_err(&self.url, &format!("read {rel}"), e)),
        }
    }

    /// Exactly the byte ranges of object `rel` asked for, one request each (up to
    /// [`RANGE_REQUESTS`] at a time), with no coalescing beyond what the caller merged.
    pub fn get_ranges_exact(&self, rel: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let wants: Vec<(&str, Range<u64>)> = ranges.iter().map(|r| (rel, r.clone())).collect();
        self.get_object_ranges(&wants)
    }

    /// Byte ranges of several objects, `RANGE_REQUESTS` requests in flight; in order.
    pub fn get_object_ranges(&self, wants: &[(&str, Range<u64>)]) -> Result<Vec<Bytes>> {
        use futures::StreamExt;
        let store = &self.store;
        let got: Vec<(usize, object_store::Result<Bytes>)> = self.rt()?.block_on(
            futures::stream::iter(wants.iter().cloned().enumerate())
                .map(|(i, (rel, r))| {
                    let key = self.key(rel);
                    async move { (i, store.get_range(&key, r).await) }
                })
                .buffer_unordered(RANGE_REQUESTS)
                .collect(),
        );
        let mut out = vec![Bytes::new(); wants.len()];
        for (i, b) in got {
            out[i] = b.map_err(|e| remote_err(&self.url, &format!("read {}", wants[i].0), e))?;
        }
        Ok(out)
    }

    /// Writes `bytes` as `rel` only if no object has that name: `false` if one had
    /// (on a server without conditional writes it is overwritten and `true` returned,
    /// which the protocol allows for: see docs/format.md, "Remotes").
    pub fn put_create(&self, rel: &str, bytes: Bytes) -> Result<bool> {
        let key = self.key(rel);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let r = self
            .rt()?
            .block_on(self.store.put_opts(&key, PutPayload::from(bytes), opts));
        self.created(rel, r)
    }

    /// What a create-only write of `rel` came to: `true` if written, `false` if an
    /// object of that name was there already (refused by the server's precondition).
    fn created<T>(&self, rel: &str, r: object_store::Result<T>) -> Result<bool> {
        match r {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(remote_err(&self.url, &format!("write {rel}"), e)),
        }
    }

    /// [`Conn::put_create`] of the objects `produce` hands to the function it is given,
    /// each uploaded as soon as it is handed over, up to [`PARALLEL_TRANSFERS`] at a time,
    /// while `produce` goes on making the next (on this thread; the uploads run on
    /// another). At most one finished object waits besides those in flight. A failed
    /// upload stops the rest: the function `produce` calls then fails, and the upload's
    /// error is returned. Returns what `produce` returns once every upload is done.
    pub fn put_create_pipelined<T>(
        &self,
        produce: impl FnOnce(&mut dyn FnMut(String, Bytes) -> Result<()>) -> Result<T>,
    ) -> Result<T> {
        use futures::StreamExt;
        let rt = self.rt()?;
        let (tx, rx) = tokio::sync::mpsc::channel::<(String, Bytes)>(1);
        std::thread::scope(|scope| {
            let uploader = scope.spawn(move || -> Result<()> {
                let store = &self.store;
                let items = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                });
                rt.block_on(async {
                    let mut uploads = std::pin::pin!(items
                        .map(|(rel, bytes)| {
                            let key = self.key(&rel);
                            let opts = PutOptions {
                                mode: PutMode::Create,
                                ..Default::default()
                            };
                            async move {
                                let r = store.put_opts(&key, PutPayload::from(bytes), opts).await;
                                (rel, r)
                            }
                        })
                        .buffer_unordered(PARALLEL_TRANSFERS));
                    // Returning drops the receiver: the producer's next hand-over fails.
                    while let Some((rel, r)) = uploads.next().await {
                        // Content-named: one already there holds the same bytes.
                        self.created(&rel, r)?;
                        hangar_store::fail_point("push.after_bundle")?;
                    }
                    Ok(())
                })
            });
            let mut hand_over = |rel: String, bytes: Bytes| -> Result<()> {
                tx.blocking_send((rel, bytes))
                    .map_err(|_| Error::Remote(format!("remote {}: the upload stopped", self.url)))
            };
            let produced = produce(&mut hand_over);
            // Closing the channel ends the uploads once those handed over are done.
            drop(tx);
            let uploaded = uploader
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("the upload thread panicked".into())));
            // An upload's error explains a failed hand-over: it comes first.
            uploaded?;
            produced
        })
    }

    /// Several whole objects, up to [`PARALLEL_TRANSFERS`] at a time, in order (`None` for
    /// one the remote does not have).
    pub fn get_many(&self, rels: &[String]) -> Result<Vec<Option<Bytes>>> {
        use futures::StreamExt;
        let store = &self.store;
        let got: Vec<(usize, object_store::Result<Bytes>)> = self.rt()?.block_on(
            futures::stream::iter(rels.iter().enumerate())
                .map(|(i, rel)| {
                    let key = self.key(rel);
                    async move {
                        let r = async { store.get(&key).await?.bytes().await }.await;
                        (i, r)
                    }
                })
                .buffer_unordered(PARALLEL_TRANSFERS)
                .collect(),
        );
        let mut out = vec![None; rels.len()];
        for (i, r) in got {
            match r {
                Ok(b) => out[i] = Some(b),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(remote_err(&self.url, &format!("read {}", rels[i]), e)),
            }
        }
        Ok(out)
    }

    /// Deletes `rel` (no error if it is gone).
    pub fn delete(&self, rel: &str) -> Result<()> {
        let key = self.key(rel);
        match self.rt()?.block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote_err(&self.url, &format!("delete {rel}"), e)),
        }
    }

    /// The names (below `dir`, relative to it) and sizes of every object under `dir`.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        let key = self.key(dir);
        let metas: Vec<object_store::ObjectMeta> = self
            .rt()?
            .block_on(self.store.list(Some(&key)).try_collect())
            .map_err(|e| remote_err(&self.url, &format!("list {dir}"), e))?;
        let base = key.as_ref().len();
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.as_ref();
                let rel = full.get(base..)?.trim_start_matches('/');
                (!rel.is_empty()).then(|| (rel.to_string(), m.size))
            })
            .collect())
    }
}

/// The request timeout: [`REQUEST_TIMEOUT`], or `HANGAR_REMOTE_TIMEOUT` seconds.
fn request_timeout() -> Result<Duration> {
    let Ok(v) = std::env::var(TIMEOUT_VAR) else {
        return Ok(REQUEST_TIMEOUT);
    };
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(Error::InvalidArgument(format!(
            "{TIMEOUT_VAR}={v:?} is not a timeout: give seconds, more than 0 and at most \
             86400 (for example {TIMEOUT_VAR}=120)"
        ))),
    }
}

/// Whether requests to an S3 endpoint share kept-alive connections: by default yes over
/// HTTPS, and no over plain HTTP (a server on loopback or the local network, where a
/// connection costs one round trip). Servers built on hyper (Garage, s3s-fs) send a
/// response's head and body as two small segments with Nagle's algorithm on, and on a
/// reused connection the client's delayed ACK then holds the body back ~40 ms: measured
/// on Garage 2.5, one-by-one streaming reads ran at 23/s on kept-alive connections and
/// ~250/s with a connection per request (`benches/compare/remote.sh`). A new connection
/// acknowledges at once (Linux's quick-ACK mode at connection start), and the server
/// closes it first, so its TIME_WAIT stays on the server, not among the client's ports.
/// `HANGAR_REMOTE_KEEPALIVE` (`0` or `1`), when set, decides instead.
fn keep_alive(plain_http: bool, var: Option<&str>) -> Result<bool> {
    match var.map(str::trim) {
        None | Some("") => Ok(!plain_http),
        Some("1") => Ok(true),
        Some("0") => Ok(false),
        Some(v) => Err(Error::InvalidArgument(format!(
            "{KEEPALIVE_VAR}={v:?} is not 0 or 1: give 1 to reuse connections to the remote \
             or 0 to open one per request (unset: reuse them over https only)"
        ))),
    }
}

/// Turns an `object_store` error into ours, saying what to check.
pub(crate) fn remote_err(url: &str, what: &str, e: object_store::Error) -> Error {
    use object_store::Error as E;
    let hint = match &e {
        E::NotFound { .. } => "the bucket or object does not exist; check the URL",
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            "the server refused the credentials: check AWS_ACCESS_KEY_ID / \
             AWS_SECRET_ACCESS_KEY (or the AWS profile) and the bucket's permissions"
        }
        E::NotSupported { .. } | E::NotImplemented { .. } => {
            "the server does not support this request"
        }
        _ if timed_out(&e) => {
            let secs = request_timeout().unwrap_or(REQUEST_TIMEOUT).as_secs_f64();
            return Error::Remote(format!(
                "remote {url}: cannot {what}: the server did not answer within {secs} s, \
                 on any attempt ({e}) (check that the server is up; on a slow link set \
                 {TIMEOUT_VAR}=SECONDS to wait longer; nothing was changed locally)"
            ));
        }
        _ => {
            "check the URL, the endpoint (--endpoint or AWS_ENDPOINT_URL) and that the \
             server is up; nothing was changed locally"
        }
    };
    Error::Remote(format!("remote {url}: cannot {what}: {e} ({hint})"))
}

/// Whether `e` (anywhere in its chain of causes) is a request that timed out.
fn timed_out(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<object_store::client::HttpError>()
            .is_some_and(|h| h.kind() == object_store::client::HttpErrorKind::Timeout)
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Makes ring the process's rustls provider unless one is installed already (by the
/// host program, or an earlier call): reqwest is built without a provider of its own
/// (see Cargo.toml: aws-lc-rs would add 2.2 MB to every artifact). Opening an `s3://`
/// remote calls it; a program that also builds its own `object_store` S3 client with
/// this build of reqwest calls it first.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_kept_alive_over_https_only_unless_the_variable_says() {
        assert!(keep_alive(false, None).unwrap());
        assert!(!keep_alive(true, None).unwrap());
        assert!(!keep_alive(true, Some(" ")).unwrap());
        assert!(keep_alive(true, Some("1")).unwrap());
        assert!(!keep_alive(false, Some("0")).unwrap());
        let e = keep_alive(true, Some("yes")).unwrap_err().to_string();
        assert!(
            e.contains(KEEPALIVE_VAR) && e.contains("\"yes\"") && e.contains("0 or 1"),
            "{e}"
        );
    }
}
