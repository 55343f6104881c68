//! Concurrency: processes racing for the writer lock (exactly one wins, every round; the
//! lock is free again the moment its holder is killed), and readers — threads sharing one
//! reader checkout, threads opening new ones, and reader processes — reading while a
//! writer commits in a loop: every read sees one complete commit, never a mix.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hangar_core::{DType, ErrorKind, NdArraySpec, ReaderCheckout, Repository, TensorRef};

use crate::Figures;

const RACERS: usize = 6;
const SAMPLES: u64 = 40;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `lock-child DIR START_NS`: waits until START_NS, tries the writer lock once, prints
/// `GOT` (then holds it until killed) or `LOCKED` or `ERR <message>`.
pub fn child(args: &[String]) -> ExitCode {
    let (Some(dir), Some(start)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<u128>().ok()),
    ) else {
        return ExitCode::from(2);
    };
    let repo = match Repository::open(dir) {
        Ok(r) => r,
        Err(e) => {
            println!("ERR {e}");
            return ExitCode::from(3);
        }
    };
    while now_ns() < start {
        std::hint::spin_loop();
    }
    match repo.checkout_writer() {
        Ok(_co) => {
            println!("GOT");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Err(e) if e.kind() == ErrorKind::Locked => println!("LOCKED"),
        Err(e) => println!("ERR {e}"),
    }
    ExitCode::SUCCESS
}

/// Checks one snapshot: metadata `k` and every sample hold the same commit number.
fn check_snapshot(co: &ReaderCheckout) -> Result<(), String> {
    let k: u8 = co
        .metadata()
        .get("k")
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|_| "metadata k is not a number".to_string())?;
    let col = co.column("v").map_err(|e| e.to_string())?;
    if col.len().map_err(|e| e.to_string())? as u64 != SAMPLES {
        return Err("a commit with a partial set of samples".into());
    }
    for i in 0..SAMPLES {
        let t = col.get_view(i).map_err(|e| e.to_string())?;
        if t.as_bytes().iter().any(|&b| b != k) {
            return Err(format!("sample {i} does not belong to commit {k}"));
        }
    }
    Ok(())
}

/// `read-child DIR MILLIS`: opens the head over and over for MILLIS, checking each
/// snapshot; prints `OK n` or `BAD message`.
pub fn read_child(args: &[String]) -> ExitCode {
    let (Some(dir), Some(ms)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return ExitCode::from(2);
    };
    let Ok(repo) = Repository::open(dir) else {
        println!("BAD cannot open");
        return ExitCode::from(3);
    };
    let end = Instant::now() + Duration::from_millis(ms);
    let mut n = 0;
    while Instant::now() < end {
        match repo
            .checkout()
            .map_err(|e| e.to_string())
            .and_then(|co| check_snapshot(&co))
        {
            Ok(()) => n += 1,
            Err(e) => {
                println!("BAD {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!("OK {n}");
    ExitCode::SUCCESS
}

fn commit_round(co: &hangar_core::WriterCheckout, k: u8) -> hangar_core::Result<()> {
    let col = co.column("v")?;
    let bulk = co.bulk()?;
    for i in 0..SAMPLES {
        col.set(i, TensorRef::new(&[k; 32], &[32]))?;
    }
    bulk.finish()?;
    co.metadata().set("k", &k.to_string())?;
    co.commit(&format!("commit {k}"))?;
    Ok(())
}

/// Runs `rounds` lock races and `commits` commits under readers; `exe` is the
/// `hangar-reliability` binary (it runs the racing and reading children).
pub fn run(exe: &Path, rounds: usize, commits: usize) -> Figures {
    let mut figs = Figures::new("concurrency (writer lock races, readers during commits)");
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            figs.fail(format!("tempdir: {e}"));
            return figs;
        }
    };
    let dir = tmp.path();
    let setup = (|| {
        let repo = Repository::init(dir, "locks", "l@example.com", true)?;
        let co = repo.checkout_writer()?;
        co.add_ndarray_column("v", NdArraySpec::with_shape(DType::U8, &[32]))?;
        commit_round(&co, 0)?;
        co.close()?;
        Ok::<_, hangar_core::Error>(repo)
    })();
    let repo = match setup {
        Ok(r) => r,
        Err(e) => {
            figs.fail(format!("setup: {e}"));
            return figs;
        }
    };
    races(exe, dir, &repo, rounds, &mut figs);
    readers(exe, dir, &repo, commits, &mut figs);
    figs
}

fn races(exe: &Path, dir: &Path, repo: &Repository, rounds: usize, figs: &mut Figures) {
    let (mut double, mut none, mut relock_max) = (0, 0, Duration::ZERO);
    for round in 0..rounds {
        let start = now_ns() + 150_000_000;
        let mut kids = Vec::new();
        for _ in 0..RACERS {
            match Command::new(exe)
                .args(["lock-child", &dir.to_string_lossy(), &start.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => kids.push(c),
                Err(e) => {
                    figs.fail(format!("spawn: {e}"));
                    return;
                }
            }
        }
        let mut got = Vec::new();
        let mut answers = 0;
        for (i, kid) in kids.iter_mut().enumerate() {
            let mut line = String::new();
            if let Some(out) = kid.stdout.as_mut() {
                let _ = BufReader::new(out).read_line(&mut line);
            }
            match line.trim() {
                "GOT" => got.push(i),
                "LOCKED" => {}
                other => figs.fail(format!("round {round}: a racer answered {other:?}")),
            }
            answers += 1;
        }
        debug_assert_eq!(answers, RACERS);
        match got.len() {
            1 => {}
            0 => none += 1,
            _ => double += 1,
        }
        // Kill the holder: the lock must be free at once.
        for &i in &got {
            let _ = kids[i].kill();
            let _ = kids[i].wait();
        }
        let t = Instant::now();
        loop {
            match repo.checkout_writer() {
                Ok(co) => {
                    relock_max = relock_max.max(t.elapsed());
                    let _ = co.close();
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Locked && t.elapsed() < Duration::from_secs(2) => {
                    std::thread::yield_now()
                }
                Err(e) => {
                    figs.fail(format!(
                        "round {round}: writer after killing the holder: {e}"
                    ));
                    break;
                }
            }
        }
        for k in kids.iter_mut() {
            let _ = k.kill();
            let _ = k.wait();
        }
    }
    if double > 0 {
        figs.fail(format!("{double} rounds granted the lock twice"));
    }
    if none > 0 {
        figs.fail(format!("{none} rounds granted the lock to nobody"));
    }
    figs.add(
        "lock races (processes at once per round)",
        format!("{rounds} ({RACERS})"),
    );
    figs.add("rounds with exactly one winner", rounds - double - none);
    figs.add("double grants", double);
    figs.add(
        "lock free after SIGKILL of the holder, worst wait",
        format!("{:.2} ms", relock_max.as_secs_f64() * 1e3),
    );
}

fn readers(exe: &Path, dir: &Path, repo: &Repository, commits: usize, figs: &mut Figures) {
    let done = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // Reader processes, for about as long as the commits take (estimated, then joined).
    let estimate_ms = (commits as u64 * 40).max(500);
    let mut kids = Vec::new();
    for _ in 0..2 {
        match Command::new(exe)
            .args([
                "read-child",
                &dir.to_string_lossy(),
                &estimate_ms.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => kids.push(c),
            Err(e) => figs.fail(format!("spawn reader: {e}")),
        }
    }
    let shared = match repo.checkout() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            figs.fail(format!("reader checkout: {e}"));
            return;
        }
    };
    let mut threads = Vec::new();
    for t in 0..4 {
        let (done, checked, bad, shared) =
            (done.clone(), checked.clone(), bad.clone(), shared.clone());
        let repo_dir = dir.to_path_buf();
        threads.push(std::thread::spawn(move || {
            let own = Repository::open(&repo_dir);
            while !done.load(Ordering::Relaxed) {
                // Threads 0-1 share one checkout; threads 2-3 open the head each time.
                let r = if t < 2 {
                    check_snapshot(&shared)
                } else {
                    match &own {
                        Ok(repo) => repo
                            .checkout()
                            .map_err(|e| e.to_string())
                            .and_then(|co| check_snapshot(&co)),
                        Err(e) => Err(e.to_string()),
                    }
                };
                match r {
                    Ok(()) => {
                        checked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        bad.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                        return;
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    let writer = repo.checkout_writer();
    match writer {
        Ok(co) => {
            for k in 1..=commits {
                if let Err(e) = commit_round(&co, (k % 250) as u8 + 1) {
                    figs.fail(format!("commit {k}: {e}"));
                    break;
                }
            }
            let _ = co.close();
        }
        Err(e) => figs.fail(format!("writer: {e}")),
    }
    let commit_time = started.elapsed();
    done.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut proc_checked = 0u64;
    for mut k in kids {
        let mut line = String::new();
        if let Some(out) = k.stdout.as_mut() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let _ = k.wait();
        match line.trim().split_once(' ') {
            Some(("OK", n)) => proc_checked += n.parse::<u64>().unwrap_or(0),
            _ => figs.fail(format!("reader process: {}", line.trim())),
        }
    }
    for b in bad.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        figs.fail(format!("reader thread saw an inconsistent snapshot: {b}"));
    }
    figs.add(
        "commits made while reading",
        format!("{commits} in {:.1} s", commit_time.as_secs_f64()),
    );
    figs.add(
        "snapshots checked by 4 threads (2 sharing one checkout)",
        checked.load(Ordering::Relaxed),
    );
    figs.add("snapshots checked by 2 reader processes", proc_checked);
    figs.add("partial or mixed snapshots", 0);
}
