//! libhangar's reliability suites. Each suite is a function that runs its trials, returns
//! its figures, and fails when a promise of DESIGN §3 is broken. `hangar-reliability
//! <suite>` runs one from the command line; `tests/reliability/README.md` lists them.

pub mod corrupt;
pub mod crash;
pub mod faults;
pub mod fulldisk;
pub mod gc;
pub mod locks;
pub mod memory;
pub mod names;
pub mod remote;
pub mod seeds;
pub mod torn;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hangar_core::{ReaderCheckout, SampleKey, Value, WriterCheckout};

/// A small deterministic generator (xorshift64*), so a failing trial can be rerun from
/// its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The content of a checkout as (column, printed key) → digest of the value's bytes.
pub type Content = BTreeMap<(String, String), String>;

/// The digest a suite records for a value.
pub fn value_digest(v: &Value) -> String {
    let bytes: &[u8] = match v {
        Value::Tensor(t) => t.as_bytes(),
        Value::Str(s) => s.as_bytes(),
        Value::Bytes(b) => b,
    };
    blake3::hash(bytes).to_hex()[..32].to_string()
}

/// Printed form of a key (`7` or `"name"`), stable across runs.
pub fn key_text(k: &SampleKey) -> String {
    match k {
        SampleKey::Int(n) => n.to_string(),
        SampleKey::Str(s) => format!("{s:?}"),
    }
}

/// Reads every sample of every (flat) column of a reader checkout.
pub fn read_content(co: &ReaderCheckout) -> hangar_core::Result<Content> {
    content_of(co.column_names()?, |name| {
        co.column(name)?
            .items()?
            .collect::<hangar_core::Result<Vec<_>>>()
    })
}

/// Reads every staged sample of every (flat) column of the writer checkout.
pub fn staged_content(co: &WriterCheckout) -> hangar_core::Result<Content> {
    content_of(co.column_names()?, |name| {
        co.column(name)?
            .items()?
            .collect::<hangar_core::Result<Vec<_>>>()
    })
}

fn content_of(
    columns: Vec<String>,
    mut items: impl FnMut(&str) -> hangar_core::Result<Vec<(SampleKey, Value)>>,
) -> hangar_core::Result<Content> {
    let mut out = Content::new();
    for name in columns {
        for (k, v) in items(&name)? {
            out.insert((name.clone(), key_text(&k)), value_digest(&v));
        }
    }
    Ok(out)
}

/// Copies a directory tree (a repository, for damaging or keeping a copy).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), t)?;
        }
    }
    Ok(())
}

/// One digest over a whole content map.
pub fn fingerprint(c: &Content) -> String {
    let mut s = String::new();
    for ((col, key), d) in c {
        let _ = writeln!(s, "{col}\t{key}\t{d}");
    }
    blake3::hash(s.as_bytes()).to_hex()[..32].to_string()
}

/// Reads `child`'s piped stdout on a thread of its own, line by line until it closes
/// (the child exits or is killed): join the thread for what it reported.
pub fn report_lines(child: &mut std::process::Child) -> std::thread::JoinHandle<Vec<String>> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout piped");
    std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect()
    })
}

/// Waits for `child` until `deadline`, then kills it with SIGKILL: its exit status, or
/// `None` when it was killed.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    deadline: std::time::Instant,
) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_micros(300))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Figures of one suite, printed as `name: value` lines and a verdict.
#[derive(Debug, Default)]
pub struct Figures {
    /// The suite.
    pub suite: String,
    /// (figure, value), in print order.
    pub lines: Vec<(String, String)>,
    /// Every broken promise found; the suite fails when this is not empty.
    pub failures: Vec<String>,
}

impl Figures {
    /// Empty figures for `suite`.
    pub fn new(suite: &str) -> Figures {
        Figures {
            suite: suite.to_string(),
            ..Figures::default()
        }
    }

    /// Adds a figure.
    pub fn add(&mut self, name: &str, value: impl ToString) {
        self.lines.push((name.to_string(), value.to_string()));
    }

    /// Records a failure (keeps the first 20 in full).
    pub fn fail(&mut self, what: impl Into<String>) {
        self.failures.push(what.into());
    }

    /// Prints the figures; true when the suite passed.
    pub fn report(&self) -> bool {
        println!("== {}", self.suite);
        for (k, v) in &self.lines {
            println!("  {k}: {v}");
        }
        println!("  failures: {}", self.failures.len());
        for f in self.failures.iter().take(20) {
            println!("    FAIL {f}");
        }
        self.failures.is_empty()
    }
}
