//! Real S3 servers for the remote tests, started on loopback by the tests themselves:
//! s3s-fs (S3 over a directory, with conditional writes) and Garage (a distributed
//! object store without them). `.ci/run` installs both; run `tests/run.sh` or install
//! them as it does (the binaries may also be named by HANGAR_S3S_FS / HANGAR_GARAGE).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials every test server is started with (exported for the client too).
pub const ACCESS_KEY: &str = "GKhangartest0000000000000";
pub const SECRET_KEY: &str = "hangar-test-secret-0000000000000000000000000000000000000000000000";

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
