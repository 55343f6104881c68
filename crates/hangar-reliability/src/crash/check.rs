//! The parent side of the crash suite: what the child's report promises, and the check of
//! the repository after the child died.

use super::*;

/// What the parent knows from the child's report.
#[derive(Debug, Default, Clone)]
pub(super) struct Expect {
    pub(super) branch: String,
    pub(super) head: String,
    pub(super) staged: Content,
    pub(super) commits: Vec<(String, String)>,
    pub(super) in_flight: Option<(String, Vec<String>)>,
    pub(super) bulk: Vec<((String, String), String)>,
}

impl Expect {
    /// Ends the operation in flight, returning its first argument.
    fn take_first_arg(&mut self) -> String {
        self.in_flight
            .take()
            .and_then(|(_, a)| a.first().cloned())
            .unwrap_or_default()
    }

    /// Applies one reported line. After a branch switch or a merge the staging area is
    /// the new head's content, read back from the repository (committed data).
    fn apply(&mut self, line: &str, repo: &Repository) -> Result<(), String> {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["BEGIN", "BULK"] => {
                self.bulk.clear();
                self.in_flight = Some(("BULK".into(), vec![]));
            }
            ["BEGIN", op, rest @ ..] => {
                self.in_flight =
                    Some((op.to_string(), rest.iter().map(|s| s.to_string()).collect()))
            }
            ["ITEM", col, key, d] => self
                .bulk
                .push(((col.to_string(), key.to_string()), d.to_string())),
            ["END", "COMMIT", id] => {
                let fp = self.take_first_arg();
                self.commits.push((id.to_string(), fp));
                self.head = id.to_string();
            }
            ["END", "SWITCH", head, fp] => {
                let to = self.take_first_arg();
                self.branch = to;
                self.head = head.to_string();
                self.commits.push((head.to_string(), fp.to_string()));
                self.staged = head_content(repo, head)?;
            }
            ["END", "MERGE", head, fp] => {
                self.in_flight = None;
                self.head = head.to_string();
                self.commits.push((head.to_string(), fp.to_string()));
                self.staged = head_content(repo, head)?;
            }
            ["END", "CONFLICT"] | ["END", "REFUSED"] => self.in_flight = None,
            ["END", "CARRY", head, fp] => {
                let to = self.take_first_arg();
                let next = carried(repo, &self.head, head, &self.staged)?;
                if fingerprint(&next) != *fp {
                    return Err(format!(
                        "the staging area carried to {to} is not the staged changes applied to its head"
                    ));
                }
                self.branch = to;
                self.head = head.to_string();
                self.staged = next;
            }
            ["END", "NEWBRANCH"] => {
                if let Some((_, a)) = self.in_flight.take() {
                    self.branch = a[0].clone();
                }
            }
            ["END"] => {
                if let Some((op, a)) = self.in_flight.take() {
                    match op.as_str() {
                        "SET" => {
                            self.staged
                                .insert((a[0].clone(), a[1].clone()), a[2].clone());
                        }
                        "DEL" => {
                            self.staged.remove(&(a[0].clone(), a[1].clone()));
                        }
                        "BULK" => self.staged.extend(self.bulk.drain(..)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `staged` (over commit `base`) moved onto commit `target`: its changes from `base`
/// applied to `target`'s content (what a switch that carries them makes).
fn carried(
    repo: &Repository,
    base: &str,
    target: &str,
    staged: &Content,
) -> Result<Content, String> {
    let before = head_content(repo, base)?;
    let mut next = head_content(repo, target)?;
    for (k, d) in staged {
        if before.get(k) != Some(d) {
            next.insert(k.clone(), d.clone());
        }
    }
    for k in before.keys() {
        if !staged.contains_key(k) {
            next.remove(k);
        }
    }
    Ok(next)
}

fn head_content(repo: &Repository, head: &str) -> Result<Content, String> {
    if head.is_empty() {
        return Ok(Content::new());
    }
    repo.checkout_commit(head)
        .and_then(|co| crate::read_content(&co))
        .map_err(|e| format!("reading {head}: {e}"))
}

/// Checks the repository after the child died; returns the failures and the state the
/// next trial starts from.
pub(super) fn check_after(
    dir: &Path,
    start: &Expect,
    lines: &[String],
    figs: &mut Figures,
    counts: &mut Counts,
) -> Option<Expect> {
    let fail = |figs: &mut Figures, what: String| {
        figs.fail(what);
        None
    };
    let repo = match Repository::open(dir) {
        Ok(r) => r,
        Err(e) => return fail(figs, format!("open after the crash: {e}")),
    };
    let mut ex = start.clone();
    ex.commits.clear();
    for l in lines {
        if let Err(e) = ex.apply(l, &repo) {
            return fail(figs, e);
        }
    }
    let ex = &ex;
    match repo.verify() {
        Ok(rep) if rep.is_ok() => {}
        Ok(rep) => return fail(figs, format!("verify after the crash: {rep}")),
        Err(e) => return fail(figs, format!("verify after the crash: {e}")),
    }
    for (id, fp) in &ex.commits {
        counts.commits_checked += 1;
        let got = repo
            .checkout_commit(id)
            .and_then(|co| crate::read_content(&co));
        match got {
            Ok(c) if fingerprint(&c) == *fp => {}
            Ok(_) => {
                return fail(
                    figs,
                    format!("commit {id} does not hold what was committed"),
                )
            }
            Err(e) => return fail(figs, format!("reported commit {id} is unreadable: {e}")),
        }
    }
    let co = match repo.checkout_writer() {
        Ok(co) => co,
        Err(e) => return fail(figs, format!("writer lock after the crash: {e}")),
    };
    let (branch, head, staged) = match (|| {
        Ok::<_, hangar_core::Error>((
            co.branch_name()?,
            co.commit_hash()?.map(|c| c.to_hex()).unwrap_or_default(),
            staged_content(&co)?,
        ))
    })() {
        Ok(x) => x,
        Err(e) => return fail(figs, format!("reading the staging area: {e}")),
    };
    let _ = co.close();
    // The writer's open deleted what the crash left half-written (every file's id is
    // reserved in the journal before the file is made); nothing unreferenced remains,
    // and nothing else was deleted (verify passes again).
    match repo.verify() {
        Ok(rep) if rep.is_ok() && rep.unreferenced.is_empty() => {}
        Ok(rep) => {
            return fail(
                figs,
                format!(
                    "after the writer reopened: {rep}; unreferenced: {:?}",
                    rep.unreferenced
                ),
            )
        }
        Err(e) => return fail(figs, format!("verify after the writer reopened: {e}")),
    }
    counts.staged_checked += ex.staged.len() as u64;
    let op = ex.in_flight.as_ref().map(|(o, _)| o.as_str());
    counts.new_branches += lines.iter().filter(|l| *l == "END NEWBRANCH").count() as u64;
    counts.new_branches_cut += u64::from(op == Some("NEWBRANCH"));
    counts.carries += lines.iter().filter(|l| l.starts_with("END CARRY")).count() as u64;
    counts.carries_refused += lines.iter().filter(|l| *l == "END REFUSED").count() as u64;
    counts.carries_cut += u64::from(op == Some("CARRY"));
    let args = ex
        .in_flight
        .as_ref()
        .map(|(_, a)| a.clone())
        .unwrap_or_default();
    let mut next = ex.clone();
    next.in_flight = None;
    next.bulk.clear();
    next.branch = branch.clone();
    next.head = head.clone();
    next.staged = staged.clone();
    match op {
        Some("SWITCH") if branch != ex.branch => {
            if branch != args[0] {
                return fail(
                    figs,
                    format!("staging on {branch}, expected {} or {}", ex.branch, args[0]),
                );
            }
            return Some(next);
        }
        Some("COMMIT") if head != ex.head => {
            let fp = &args[0];
            let content = repo
                .checkout_commit(&head)
                .and_then(|c| crate::read_content(&c));
            // The commit holds what the child was committing, and the staging area is
            // clean on it.
            if !matches!(&content, Ok(c) if fingerprint(c) == *fp && *c == staged) {
                return fail(
                    figs,
                    format!("the commit in flight landed as {head} with other content"),
                );
            }
            return Some(next);
        }
        Some("MERGE") if head != ex.head => return Some(next),
        Some("CARRY") if branch != ex.branch => {
            // Cut after the journal moved: on the new branch, at its head, with the
            // staged changes applied to it.
            let want = carried(&repo, &ex.head, &head, &ex.staged);
            let at_head = repo
                .branch_head(&args[0])
                .ok()
                .flatten()
                .map(|c| c.to_hex());
            if branch != args[0] || at_head.as_deref() != Some(head.as_str()) {
                return fail(
                    figs,
                    format!(
                        "staging on {branch} at {head}, expected {} or {} at its head",
                        ex.branch, args[0]
                    ),
                );
            }
            if !matches!(&want, Ok(w) if *w == staged) {
                return fail(
                    figs,
                    format!("the staging area carried to {branch} in flight is not the staged changes applied to its head"),
                );
            }
            return Some(next);
        }
        _ => {}
    }
    // A new branch in flight: the staging area is on either branch, with the same head
    // and every staged change (checked below).
    let moved = op == Some("NEWBRANCH") && branch == args[0];
    if (branch != ex.branch && !moved) || head != ex.head {
        return fail(
            figs,
            format!(
                "staging area on {branch} at {head}, expected {} at {}",
                ex.branch, ex.head
            ),
        );
    }
    // Keys an unfinished operation touched may hold the old or the new value.
    let mut touched: Vec<(String, String)> = Vec::new();
    match op {
        Some("SET") | Some("DEL") => touched.push((args[0].clone(), args[1].clone())),
        Some("BULK") => touched.extend(ex.bulk.iter().map(|(k, _)| k.clone())),
        _ => {}
    }
    let mut want = ex.staged.clone();
    let mut got = staged.clone();
    for k in &touched {
        want.remove(k);
        got.remove(k);
    }
    if want != got {
        let missing = want.iter().filter(|(k, v)| got.get(*k) != Some(v)).count();
        let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
        return fail(figs, format!(
            "staging area differs from what the child reported durable: {missing} missing or changed, {extra} unexpected"
        ));
    }
    Some(next)
}
