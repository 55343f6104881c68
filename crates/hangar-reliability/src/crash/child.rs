//! The child side of the crash suite: a random workload that reports on stdout what has
//! become durable (the protocol is in the parent module's docs).

use super::*;

struct Child<'a> {
    out: std::io::StdoutLock<'a>,
}

impl Child<'_> {
    fn say(&mut self, line: &str) {
        // A failed write means the parent is gone: stop at once.
        if writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .is_err()
        {
            std::process::exit(0);
        }
    }
}

fn value_for(rng: &mut Rng, col: &str) -> (Vec<u8>, String) {
    let n = rng.next_u64();
    if col != "notes" {
        let bytes: Vec<u8> = (0..DATA_LEN)
            .map(|i| (n >> (i % 8 * 8)) as u8 ^ i as u8)
            .collect();
        (
            bytes.clone(),
            blake3::hash(&bytes).to_hex()[..32].to_string(),
        )
    } else {
        let s = format!("note {n:x}");
        (
            s.clone().into_bytes(),
            blake3::hash(s.as_bytes()).to_hex()[..32].to_string(),
        )
    }
}

fn put(co: &WriterCheckout, col: &str, key: u64, bytes: &[u8]) -> hangar_core::Result<()> {
    let c = co.column(col)?;
    if col != "notes" {
        c.set(key, TensorRef::new(bytes, &[DATA_LEN]))
    } else {
        c.set(key, std::str::from_utf8(bytes).unwrap_or_default())
    }
}

/// The child: runs `steps` random operations on the repository at `dir`.
pub fn child(dir: &Path, seed: u64, steps: usize) -> hangar_core::Result<()> {
    let stdout = std::io::stdout();
    let mut say = Child { out: stdout.lock() };
    let mut rng = Rng::new(seed);
    let repo = Repository::open(dir)?;
    let mut co = repo.checkout_writer()?;
    let mut model = staged_content(&co)?;
    for _ in 0..steps {
        let branch = co.branch_name()?;
        match rng.below(100) {
            0..=39 => {
                let col = COLUMNS[rng.below(COLUMNS.len() as u64) as usize];
                let key = rng.below(KEYS);
                let (bytes, d) = value_for(&mut rng, col);
                say.say(&format!("BEGIN SET {col} {key} {d}"));
                put(&co, col, key, &bytes)?;
                model.insert((col.to_string(), key.to_string()), d);
                say.say("END");
            }
            40..=49 => {
                let Some(((col, key), _)) = model
                    .iter()
                    .nth(rng.below(model.len() as u64) as usize)
                    .map(|(k, v)| (k.clone(), v.clone()))
                else {
                    continue;
                };
                say.say(&format!("BEGIN DEL {col} {key}"));
                let k: u64 = key.parse().unwrap_or(0);
                co.column(&col)?.delete(k)?;
                model.remove(&(col, key));
                say.say("END");
            }
            50..=64 => {
                say.say("BEGIN BULK");
                let bulk = co.bulk()?;
                let n = 20 + rng.below(150);
                let mut items = Vec::new();
                for _ in 0..n {
                    let col = COLUMNS[rng.below(COLUMNS.len() as u64) as usize];
                    let key = rng.below(KEYS);
                    let (bytes, d) = value_for(&mut rng, col);
                    put(&co, col, key, &bytes)?;
                    say.say(&format!("ITEM {col} {key} {d}"));
                    items.push(((col.to_string(), key.to_string()), d));
                }
                bulk.finish()?;
                model.extend(items);
                say.say("END");
            }
            65..=84 => {
                if !co.status()?.is_dirty() {
                    continue;
                }
                say.say(&format!("BEGIN COMMIT {}", fingerprint(&model)));
                let id = co.commit(&format!("step on {branch}"))?;
                say.say(&format!("END COMMIT {}", id.to_hex()));
            }
            85..=89 => {
                let to = BRANCHES[rng.below(3) as usize];
                if to == branch || repo.branch_head(to).is_err() {
                    continue;
                }
                if co.status()?.is_dirty() {
                    // git's checkout: the staged changes come along where they apply
                    // unchanged, else the switch is refused and nothing changes.
                    say.say(&format!("BEGIN CARRY {to}"));
                    co.close()?;
                    match repo.switch_writer_branch(to) {
                        Ok(c) => {
                            co = c;
                            model = staged_content(&co)?;
                            let head = co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default();
                            say.say(&format!("END CARRY {head} {}", fingerprint(&model)));
                        }
                        Err(e) if e.kind() == hangar_core::ErrorKind::DirtyStaging => {
                            co = repo.checkout_writer()?;
                            say.say("END REFUSED");
                        }
                        Err(e) => return Err(e),
                    }
                    continue;
                }
                say.say(&format!("BEGIN SWITCH {to}"));
                co.close()?;
                co = repo.checkout_writer_branch(to)?;
                model = staged_content(&co)?;
                let head = co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default();
                say.say(&format!("END SWITCH {head} {}", fingerprint(&model)));
            }
            90..=91 => {
                let name = BRANCHES[1 + rng.below(2) as usize];
                if repo.branch_head(name).is_ok() {
                    continue;
                }
                say.say(&format!("BEGIN BRANCH {name}"));
                repo.create_branch(name, None)?;
                say.say("END");
            }
            92..=95 => {
                // `checkout -b`: a new branch at the head, the staged changes moving along
                // (names of their own, so it keeps happening; switches and merges then
                // take the staging area back to the three named branches).
                let name = format!("nb{}", rng.below(1_000_000));
                if repo.branch_head(&name).is_ok() {
                    continue;
                }
                say.say(&format!("BEGIN NEWBRANCH {name}"));
                co.close()?;
                co = repo.checkout_writer_new_branch(&name, None)?;
                say.say("END NEWBRANCH");
            }
            _ => {
                if co.status()?.is_dirty() {
                    continue;
                }
                let from = BRANCHES[rng.below(3) as usize];
                if from == branch || repo.branch_head(from).is_err() {
                    continue;
                }
                say.say(&format!("BEGIN MERGE {from}"));
                match co.merge(&format!("merge {from}"), from) {
                    Ok(outcome) => {
                        model = staged_content(&co)?;
                        say.say(&format!(
                            "END MERGE {} {}",
                            outcome.head().to_hex(),
                            fingerprint(&model)
                        ));
                    }
                    Err(e) if e.kind() == hangar_core::ErrorKind::Conflict => {
                        say.say("END CONFLICT")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    co.close()
}
