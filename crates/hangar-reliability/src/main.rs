//! `hangar-reliability <suite> [options]`: runs one reliability suite (or `all`) and
//! prints its figures; exits 1 when a promise is broken. See tests/reliability/README.md.

use std::process::ExitCode;

use hangar_reliability::{
    corrupt, crash, faults, fulldisk, gc, locks, memory, names, remote, torn, Figures,
};

fn opt(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let suite = args.first().map(String::as_str).unwrap_or("help");
    let seed = opt(&args, "--seed", 0x5EED);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            return ExitCode::from(2);
        }
    };
    let figures: Vec<Figures> = match suite {
        "crash-child" => {
            let dir = args.get(1).map(String::as_str).unwrap_or(".");
            let child_seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
            let steps = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
            return match crash::child(std::path::Path::new(dir), child_seed, steps) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("crash child: {e}");
                    ExitCode::from(3)
                }
            };
        }
        "lock-child" => return locks::child(&args[1..]),
        "gc-child" => {
            let dir = args.get(1).map_or(".", String::as_str);
            return match gc::child(std::path::Path::new(dir)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gc child: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        "remote-child" => {
            let r = match args.get(1).map(String::as_str) {
                Some("push") => remote::push_child(
                    std::path::Path::new(args.get(2).map_or(".", String::as_str)),
                    args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1),
                    args.get(5).and_then(|s| s.parse().ok()).unwrap_or(3),
                ),
                Some("clone") => remote::clone_child(
                    args.get(2).map_or("", String::as_str),
                    std::path::Path::new(args.get(3).map_or(".", String::as_str)),
                ),
                Some("fetch") => remote::fetch_child(std::path::Path::new(
                    args.get(2).map_or(".", String::as_str),
                )),
                _ => {
                    eprintln!("remote-child push SRC URL SEED ROUNDS | clone URL DIR | fetch DIR");
                    return ExitCode::from(2);
                }
            };
            return match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("remote child: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        "fuzz-seeds" => {
            let out = args.get(1).map(String::as_str).unwrap_or("fuzz/corpus");
            return match hangar_reliability::seeds::write(std::path::Path::new(out)) {
                Ok(n) => {
                    println!("{n} seed inputs written under {out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fuzz-seeds: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        "read-child" => return locks::read_child(&args[1..]),
        "crash" => vec![crash::run(
            &exe,
            opt(&args, "--trials", 200) as usize,
            opt(&args, "--point-reps", 5) as usize,
            seed,
        )],
        "gc" => vec![gc::run(
            &exe,
            opt(&args, "--gc-trials", 40) as usize,
            opt(&args, "--point-reps", 5) as usize,
            seed,
        )],
        "faults" => vec![faults::run()],
        "torn" => vec![torn::run()],
        "corrupt" => vec![corrupt::run(opt(&args, "--flips", 300) as usize, seed)],
        "locks" => vec![locks::run(
            &exe,
            opt(&args, "--rounds", 50) as usize,
            opt(&args, "--commits", 200) as usize,
        )],
        "names" => vec![names::run()],
        "remote" => vec![remote::run(
            &exe,
            opt(&args, "--remote-trials", 30) as usize,
            seed,
        )],
        "full-disk" => vec![fulldisk::run(&memory::default_hangar(&exe))],
        "memory" => vec![memory::run(
            &memory::default_hangar(&exe),
            opt(&args, "--mib", 512) << 20,
        )],
        "all" => vec![
            crash::run(
                &exe,
                opt(&args, "--trials", 200) as usize,
                opt(&args, "--point-reps", 5) as usize,
                seed,
            ),
            gc::run(
                &exe,
                opt(&args, "--gc-trials", 40) as usize,
                opt(&args, "--point-reps", 5) as usize,
                seed,
            ),
            faults::run(),
            torn::run(),
            corrupt::run(opt(&args, "--flips", 300) as usize, seed),
            locks::run(
                &exe,
                opt(&args, "--rounds", 50) as usize,
                opt(&args, "--commits", 200) as usize,
            ),
            names::run(),
            remote::run(&exe, opt(&args, "--remote-trials", 30) as usize, seed),
            fulldisk::run(&memory::default_hangar(&exe)),
            memory::run(
                &memory::default_hangar(&exe),
                opt(&args, "--mib", 512) << 20,
            ),
        ],
        _ => {
            eprintln!(
                "usage: hangar-reliability <crash|gc|faults|torn|corrupt|locks|names|remote|full-disk|memory|all> [--trials N] \
                 [--point-reps N] [--gc-trials N] [--flips N] [--rounds N] [--commits N] [--remote-trials N] [--mib N] [--seed N]"
            );
            return ExitCode::from(2);
        }
    };
    let mut ok = true;
    for f in &figures {
        ok &= f.report();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
