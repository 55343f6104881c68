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
                b = with_aws_profile(b, &|k| std::env::var(k).ok())?;
                let endpoint = endpoint_of(&b);
                check_s3_settings(
                    endpoint.as_deref(),
                    b.get_config_value(&AmazonS3ConfigKey::Region).as_deref(),
                    "from the remote's settings, the environment or the AWS profile",
                )?;
                require_credentials(&b, &spec.url, endpoint.as_deref(), &|k| {
                    std::env::var(k).ok()
                })?;
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

/// Fills in from the AWS profile (`~/.aws/credentials` and `~/.aws/config`, see
/// `aws_profile`) what the environment and the remote's own settings left unset, in the
/// `aws` command's order: keys from the environment win over the profile's (its session
/// token comes only with its keys); the remote's `--region`/`--endpoint`, then
/// `AWS_REGION`/`AWS_DEFAULT_REGION` and `AWS_ENDPOINT_URL`, win over the profile's.
fn with_aws_profile(
    mut b: AmazonS3Builder,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<AmazonS3Builder> {
    let Some(p) = super::aws_profile::load(var)? else {
        return Ok(b);
    };
    let unset = |b: &AmazonS3Builder, k| b.get_config_value(&k).is_none_or(|v| v.is_empty());
    // The profile's keys are asked for (and a profile that cannot give them refused)
    // only when the environment gives none.
    if unset(&b, AmazonS3ConfigKey::AccessKeyId) {
        if let Some((id, secret, token)) = p.keys()? {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(token) = token {
                b = b.with_token(token);
            }
        }
    }
    if unset(&b, AmazonS3ConfigKey::Region) && unset(&b, AmazonS3ConfigKey::DefaultRegion) {
        if let Some(r) = p.region {
            b = b.with_region(r);
        }
    }
    if endpoint_of(&b).is_none() {
        if let Some(ep) = p.endpoint_url {
            b = b.with_endpoint(ep);
        }
    }
    Ok(b)
}

/// The endpoint requests will go to: `AWS_ENDPOINT_URL_S3`'s (object_store prefers it),
/// else the endpoint's; `None` for AWS's own.
fn endpoint_of(b: &AmazonS3Builder) -> Option<String> {
    [AmazonS3ConfigKey::S3Endpoint, AmazonS3ConfigKey::Endpoint]
        .iter()
        .find_map(|k| b.get_config_value(k).filter(|v| !v.is_empty()))
}

/// Refuses, before any request, a server other than AWS when no credentials were found:
/// `object_store` would then ask the EC2 instance metadata service for some, which is
/// either not there (a wait and an error about 169.254.169.254) or gives an AWS role
/// that no other server knows. On AWS itself (no endpoint, or an amazonaws.com one)
/// that is how an instance's role reaches its bucket, so it is left to do so; web
/// identity and ECS container credentials count as found.
fn require_credentials(
    b: &AmazonS3Builder,
    url: &str,
    endpoint: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let aws = endpoint.is_none_or(|e| e.contains(".amazonaws.com"));
    let found = b
        .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
        .is_some_and(|v| !v.is_empty())
        || [
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|k| var(k).is_some_and(|v| !v.is_empty()));
    if aws || found {
        return Ok(());
    }
    Err(Error::Remote(format!(
        "remote {url}: no credentials for the server at {}: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, or put them in a profile of ~/.aws/credentials \
         (AWS_PROFILE names one; `default` otherwise); nothing was changed locally",
        endpoint.unwrap_or_default()
    )))
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

/// Checks that `url` is a remote URL this build can use, without contacting it.
/// The key prefix of an `s3://bucket/prefix` URL: its path, percent-decoded once (a
/// space written `%20` is a space in the object keys, not `%20`), empty segments
/// dropped; `.` and `..` are refused.
fn s3_prefix(url: &url::Url) -> Result<StorePath> {
    let joined: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    StorePath::from_url_path(joined.join("/")).map_err(|e| {
        Error::InvalidArgument(format!(
            "the key prefix of {:?} cannot be used ({e}); give s3://bucket/some/prefix",
            url.as_str()
        ))
    })
}

/// Refuses an S3 endpoint or region that would make no valid request (object_store
/// panics on building one): an endpoint is an `http://` or `https://` URL with a host,
/// in printable ASCII; a region is letters, digits, `-`, `_` and `.`. `from` says where
/// the value came from, for the message.
pub(crate) fn check_s3_settings(
    endpoint: Option<&str>,
    region: Option<&str>,
    from: &str,
) -> Result<()> {
    if let Some(ep) = endpoint {
        let parsed = url::Url::parse(ep).ok();
        let ok = ep.chars().all(|c| c.is_ascii_graphic())
            && parsed.is_some_and(|u| {
                ["http", "https"].contains(&u.scheme())
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "the S3 endpoint {ep:?} ({from}) is not an http:// or https:// URL: give \
                 http://HOST:PORT for a server on your network or https://HOST"
            )));
        }
    }
    if let Some(r) = region {
        if r.is_empty()
            || !r
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::InvalidArgument(format!(
                "the S3 region {r:?} ({from}) is not a region name: give one such as \
                 us-east-1, or the name your server uses (Garage: garage)"
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_url(url: &str) -> Result<()> {
    let u = url::Url::parse(url).map_err(|e| {
        Error::InvalidArgument(format!(
            "{url:?} is not a remote URL ({e}); give a directory, file:///absolute/path or \
             s3://bucket/prefix"
        ))
    })?;
    match u.scheme() {
        "file" if u.to_file_path().is_ok() => Ok(()),
        "s3" => {
            let bucket = u.host_str().unwrap_or_default();
            let fine = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            if bucket.is_empty() || !bucket.chars().all(fine) {
                return Err(Error::InvalidArgument(format!(
                    "{url:?} names no usable bucket ({bucket:?}): bucket names are letters, \
                     digits, '-', '_' and '.'; give s3://bucket/prefix"
                )));
            }
            s3_prefix(&u).map(|_| ())
        }
        _ => Err(Error::InvalidArgument(format!(
            "{url:?} is not a remote URL this build can use; give a directory, \
             file:///absolute/path or s3://bucket/prefix"
        ))),
    }
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
    fn s3_urls_endpoints_and_regions_that_make_no_request_are_refused() {
        for ok in [
            "s3://bucket/p",
            "s3://my_bucket.v2-x",
            "s3://b/a/b/c/",
            "s3://b//x",
        ] {
            check_url(ok).unwrap();
        }
        for bad in ["s3://b%20c/x", "s3://", "s3:///x"] {
            let e = check_url(bad).unwrap_err().to_string();
            assert!(
                e.contains("bucket") || e.contains("not a remote URL"),
                "{bad}: {e}"
            );
        }
        for ep in [
            "http://127.0.0.1:3900",
            "https://s3.example.com",
            "http://h:1/",
        ] {
            check_s3_settings(Some(ep), Some("us-east-1"), "x").unwrap();
        }
        for ep in [
            "127.0.0.1:3900",
            "localhost:9",
            "ftp://h",
            "http://h/a b",
            "http://",
            "http://hé",
        ] {
            let e = check_s3_settings(Some(ep), None, "given here")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("not an http://") && e.contains("given here"),
                "{ep}: {e}"
            );
        }
        for r in ["garage", "eu-west-1", "auto", "r_1.x"] {
            check_s3_settings(None, Some(r), "x").unwrap();
        }
        for r in ["", "us east", "a/b", "ré"] {
            let e = check_s3_settings(None, Some(r), "x")
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a region name"), "{r:?}: {e}");
        }
    }

    #[test]
    fn a_profile_is_asked_for_keys_only_when_the_environment_has_none() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\nsso_session = corp\nregion = eu-north-1\n",
        )
        .unwrap();
        let h = home.path().display().to_string();
        let var = |k: &str| (k == "HOME").then(|| h.clone());
        // Keys in the environment (here, already on the builder): the SSO profile's
        // region is still used, and its keys are not needed.
        let b = AmazonS3Builder::new()
            .with_access_key_id("AKID")
            .with_secret_access_key("s");
        let b = with_aws_profile(b, &var).unwrap();
        let got = |b: &AmazonS3Builder, k| b.get_config_value(&k);
        assert_eq!(
            got(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("AKID")
        );
        assert_eq!(
            got(&b, AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-north-1")
        );
        // None there: the profile must give them, and cannot.
        let e = with_aws_profile(AmazonS3Builder::new(), &var)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sso_session") && e.contains("export AWS_ACCESS_KEY_ID"),
            "{e}"
        );
    }

    #[test]
    fn an_s3_prefix_is_percent_decoded_once() {
        let prefix = |u: &str| s3_prefix(&url::Url::parse(u).unwrap()).map(|p| p.to_string());
        assert_eq!(prefix("s3://b").unwrap(), "");
        assert_eq!(prefix("s3://b//data/x/").unwrap(), "data/x");
        // A space written %20 is a space in the keys (object_store encodes it once on
        // the wire), not the three characters %20 (encoded twice more).
        assert_eq!(prefix("s3://b/pre%20fix").unwrap(), "pre fix");
        assert_eq!(prefix("s3://b/%C3%BC/x").unwrap(), "ü/x");
    }

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
