//! Real S3 servers for the remote tests, started on loopback by the tests themselves:
//! s3s-fs (S3 over a directory, with conditional writes) and Garage (a distributed
//! object store without them). `.ci/run` installs both; run `tests/run.sh` or install
//! them as it does (the binaries may also be named by HANGAR_S3S_FS / HANGAR_GARAGE).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials every test server is started with (exported for the client too).
/// (Garage's formats: "GK" and 24 hex digits; 64 hex digits.)
pub const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
pub const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Sets the AWS environment the clients read (the same for every test).
pub fn s3_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::remove_var("AWS_ENDPOINT_URL");
        std::env::remove_var("AWS_PROFILE");
    });
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start ({status})");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not listen on 127.0.0.1:{port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Finds a server binary: `$env`, else `name` on PATH or in ~/.cargo/bin.
pub fn binary(env: &str, name: &str, install: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("the remote tests need {name} (a real S3 server); install it with `{install}` or set {env}")
        })
}

/// An s3s-fs server on loopback serving one bucket from a temporary directory.
pub struct S3s {
    child: Child,
    pub endpoint: String,
    pub root: tempfile::TempDir,
}

impl S3s {
    pub fn start(bucket: &str) -> S3s {
        s3_env();
        let bin = binary(
            "HANGAR_S3S_FS",
            "s3s-fs",
            "cargo install s3s-fs --version 0.14.1 --features binary --locked",
        );
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let port = free_port();
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        wait_for(port, &mut child, "s3s-fs");
        S3s {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
        }
    }
}

impl Drop for S3s {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A single-node Garage (replication factor 1, SQLite metadata) on loopback, with one
/// bucket and the test key allowed on it.
pub struct Garage {
    child: Child,
    pub endpoint: String,
    config: PathBuf,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl Garage {
    /// Starts one node (replication factor `rf`) without a layout.
    fn node(rf: usize) -> Garage {
        s3_env();
        let bin = binary(
            "HANGAR_GARAGE",
            "garage",
            "cargo install garage --version 2.5.0 --locked",
        );
        let dir = tempfile::tempdir().unwrap();
        let (rpc, api) = (free_port(), free_port());
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = {rf}\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{SECRET_KEY}\"\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{api}\"\n\
                 root_domain = \".s3.garage.localhost\"\n",
                meta = dir.path().join("meta").display(),
                data = dir.path().join("data").display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(&bin)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("garage starts");
        wait_for(api, &mut child, "garage");
        Garage {
            child,
            endpoint: format!("http://127.0.0.1:{api}"),
            config,
            bin,
            _dir: dir,
        }
    }

    /// This node's id and RPC address (`<id>@<addr>`).
    fn node_id(&self) -> String {
        self.cli(&["node", "id", "-q"]).trim().to_string()
    }

    /// Assigns every node of `nodes` (connected to the first) a zone of its own, applies
    /// the layout, creates `bucket` and allows the test key on it.
    fn configure(nodes: &[Garage], bucket: &str) {
        let first = &nodes[0];
        for (i, n) in nodes.iter().enumerate() {
            let full = n.node_id();
            if i > 0 {
                first.cli(&["node", "connect", &full]);
            }
            let id = full.split('@').next().unwrap().to_string();
            first.cli(&["layout", "assign", "-z", &format!("dc{i}"), "-c", "1G", &id]);
        }
        first.cli(&["layout", "apply", "--version", "1"]);
        first.cli(&["bucket", "create", bucket]);
        first.cli(&[
            "key",
            "import",
            "--yes",
            "-n",
            "hangar-test",
            ACCESS_KEY,
            SECRET_KEY,
        ]);
        first.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", bucket, "--key", ACCESS_KEY,
        ]);
    }

    /// A single node (replication factor 1, SQLite metadata) with `bucket`.
    pub fn start(bucket: &str) -> Garage {
        let g = Garage::node(1);
        Garage::configure(std::slice::from_ref(&g), bucket);
        g
    }

    /// `n` nodes on loopback, replication factor `n` (each object on every node), with
    /// `bucket`.
    pub fn cluster(n: usize, bucket: &str) -> Vec<Garage> {
        let nodes: Vec<Garage> = (0..n).map(|_| Garage::node(n)).collect();
        Garage::configure(&nodes, bucket);
        nodes
    }

    /// Kills this node (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the garage command line against this node; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let out = Command::new(&self.bin)
                .arg("-c")
                .arg(&self.config)
                .args(args)
                .output()
                .expect("garage runs");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            // The node may still be starting (its RPC before its S3 API, or the reverse).
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "garage {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`FaultProxy`] does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards it to the server and its answer back.
    Pass,
    /// Answers this HTTP status itself (the server never sees the request).
    Status(u16),
    /// Reads the request and never answers (until the proxy stops). (The CLI tests use
    /// it, with a short `HANGAR_REMOTE_TIMEOUT` in the child's environment only.)
    #[allow(dead_code)]
    Hang,
}

/// A decision per request: the request's number (from 0, in arrival order), its request
/// line ("PUT /bucket/key HTTP/1.1"), and whether that line is new (not sent before, or
/// not since [`FaultProxy::forget_seen`]): a retry of a request is not new.
pub type Plan = dyn Fn(usize, &str, bool) -> Fault + Send + Sync;

/// The request lines a proxy has seen.
type Seen = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// An HTTP proxy on loopback in front of a real server that fails the requests a plan
/// names: answers 500 or 503 in the server's place, or never answers. Every request gets
/// a connection of its own to the server (`Connection: close`), so each is decided on its
/// own. Request bodies must carry a `Content-Length` (as the S3 client's do).
pub struct FaultProxy {
    pub endpoint: String,
    faults: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: Seen,
    port: u16,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) following `plan`.
    pub fn start(upstream: &str, plan: std::sync::Arc<Plan>) -> FaultProxy {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        use std::sync::Arc;
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// endpoint")
            .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Seen::default();
        let (f, s, seen2) = (faults.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (plan, up, f, s, count, seen) = (
                    plan.clone(),
                    upstream.clone(),
                    f.clone(),
                    s.clone(),
                    count.clone(),
                    seen2.clone(),
                );
                std::thread::spawn(move || {
                    let _ = proxy_one(conn, &up, &*plan, &count, &seen, &f, &s);
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            faults,
            stop,
            seen,
            port,
        }
    }

    /// Makes every request line new again (for a plan that fails new requests). (The
    /// CLI tests use it, between modes.)
    #[allow(dead_code)]
    pub fn forget_seen(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// How many requests the proxy has failed so far.
    pub fn faults(&self) -> usize {
        self.faults.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves the requests of one client connection (one, if it passes to the server).
fn proxy_one(
    conn: TcpStream,
    upstream: &str,
    plan: &Plan,
    count: &std::sync::atomic::AtomicUsize,
    seen: &Seen,
    faults: &std::sync::atomic::AtomicUsize,
    stop: &std::sync::atomic::AtomicBool,
) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering::SeqCst;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut client = conn;
    loop {
        // The request head, line by line; its body by Content-Length.
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            lines.push(line);
        }
        let request_line = lines[0].trim_end().to_string();
        let mut length = 0usize;
        for l in &lines[1..] {
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
            assert!(
                !name.eq_ignore_ascii_case("transfer-encoding"),
                "the fault proxy forwards Content-Length bodies only: {request_line}"
            );
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let new = seen.lock().unwrap().insert(request_line.clone());
        match plan(count.fetch_add(1, SeqCst), &request_line, new) {
            Fault::Status(code) => {
                faults.fetch_add(1, SeqCst);
                let text = "injected fault";
                write!(
                    client,
                    "HTTP/1.1 {code} Injected\r\ncontent-type: text/plain\r\n\
                     content-length: {}\r\n\r\n{text}",
                    text.len()
                )?;
                client.flush()?;
            }
            Fault::Hang => {
                faults.fetch_add(1, SeqCst);
                while !stop.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return Ok(());
            }
            Fault::Pass => {
                let mut server = TcpStream::connect(upstream)?;
                let mut head = String::new();
                head.push_str(&lines[0]);
                for l in &lines[1..] {
                    let name = l.split(':').next().unwrap_or("");
                    if !name.eq_ignore_ascii_case("connection") {
                        head.push_str(l);
                    }
                }
                head.push_str("connection: close\r\n\r\n");
                server.write_all(head.as_bytes())?;
                // A server may answer before the body is in (412 to a create-only PUT
                // of a name it has) and close: its answer is still passed on.
                if server
                    .write_all(&body)
                    .and_then(|()| server.flush())
                    .is_err()
                {
                    let _ = server.shutdown(std::net::Shutdown::Write);
                }
                // The server answers and closes; so does the proxy, after passing it on.
                std::io::copy(&mut server, &mut client)?;
                client.flush()?;
                return Ok(());
            }
        }
    }
}
