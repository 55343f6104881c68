//! Remotes: add and remove, push, fetch, pull, fetch-data and clone (see docs/format.md,
//! "Remotes"). Credentials come from the AWS environment variables and files, never
//! from arguments. Each report is optional text (`report` may be NULL).

use std::ffi::c_char;

use hangar_core::{FetchDataOptions, RemoteSpec, Repository};

use crate::boundary::{
    check_out, guard, guard_out, handle, into_handle, opt_text, slice, text, write_out, FfiResult,
};
use crate::column::keys_arg;
use crate::repo::hangar_repo;
use crate::status::*;
use crate::types::{hangar_buf, hangar_key, hangar_strlist, new_strlist, text_out};

fn report_out(report: *mut *mut hangar_buf, text: String) {
    if !report.is_null() {
        text_out(report, text);
    }
}

/// Adds remote `name` at `url` (`file:///dir` or `s3://bucket/prefix`); `endpoint` and
/// `region` (may be NULL) are for S3 servers other than AWS. Not contacted here.
#[no_mangle]
pub extern "C" fn hangar_repo_add_remote(
    repo: *const hangar_repo,
    name: *const c_char,
    url: *const c_char,
    endpoint: *const c_char,
    region: *const c_char,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        r.repo
            .add_remote(&spec(text(name, "name")?, url, endpoint, region)?)?;
        Ok(())
    })
}

/// Removes remote `name` (what was fetched from it stays).
#[no_mangle]
pub extern "C" fn hangar_repo_remove_remote(
    repo: *const hangar_repo,
    name: *const c_char,
) -> hangar_status {
    guard(|| {
        handle(repo, "repo")?
            .repo
            .remove_remote(text(name, "name")?)?;
        Ok(())
    })
}

/// Pushes `branch` to `remote`: uploads what the remote lacks, then moves its branch.
/// `HANGAR_E_CONFLICT` when the remote's branch has commits this one lacks (pull first);
/// `HANGAR_E_REMOTE` when the remote cannot be reached.
#[no_mangle]
pub extern "C" fn hangar_repo_push(
    repo: *const hangar_repo,
    remote: *const c_char,
    branch: *const c_char,
    report: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let rep = r
            .repo
            .push(text(remote, "remote")?, text(branch, "branch")?)?;
        report_out(report, rep.to_string());
        Ok(())
    })
}

/// Fetches the history and record tables of `branch` (NULL: every branch) from
/// `remote`, moving the tracking refs (`remote/branch`, usable as revisions).
#[no_mangle]
pub extern "C" fn hangar_repo_fetch(
    repo: *const hangar_repo,
    remote: *const c_char,
    branch: *const c_char,
    report: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let rep = r
            .repo
            .fetch(text(remote, "remote")?, opt_text(branch, "branch")?)?;
        report_out(report, rep.to_string());
        Ok(())
    })
}

/// Fetches `branch` from `remote` and merges it into the local branch of that name
/// (`message` for a merge commit). A merge conflict: `HANGAR_E_MERGE_CONFLICT`.
#[no_mangle]
pub extern "C" fn hangar_repo_pull(
    repo: *const hangar_repo,
    remote: *const c_char,
    branch: *const c_char,
    message: *const c_char,
    report: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let (rep, outcome) = r.repo.pull(
            text(remote, "remote")?,
            text(branch, "branch")?,
            text(message, "message")?,
        )?;
        report_out(report, format!("{rep}\nhead {}", outcome.head()));
        Ok(())
    })
}

/// Fetches the values of revision `rev` that this repository lacks from `remote`: of
/// the `n_columns` columns named in `columns` only (`n_columns` 0: every column; then
/// `columns` may be NULL), of integer keys `range_start <= key < range_end` only when
/// `range_end > range_start` (else every key), stopping before `max_bytes` (0: no
/// limit); with `history`, the values of every commit `rev` descends from too. Each
/// value's CRC and digest are checked before it is stored.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn hangar_repo_fetch_data(
    repo: *const hangar_repo,
    remote: *const c_char,
    rev: *const c_char,
    columns: *const *const c_char,
    n_columns: usize,
    range_start: u64,
    range_end: u64,
    max_bytes: u64,
    history: bool,
    report: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let (remote, rev) = (text(remote, "remote")?, text(rev, "rev")?);
        let columns = slice(columns, n_columns, "columns")?
            .iter()
            .map(|&c| text(c, "columns[i]").map(str::to_string))
            .collect::<FfiResult<Vec<String>>>()?;
        let opts = FetchDataOptions {
            columns,
            range: (range_end > range_start).then_some(range_start..range_end),
            max_bytes: (max_bytes > 0).then_some(max_bytes),
            history,
            ..FetchDataOptions::default()
        };
        let rep = r.repo.fetch_data(remote, rev, &opts)?;
        report_out(report, rep.to_string());
        Ok(())
    })
}

/// Fetches the values of exactly the samples named, in column `column` at revision
/// `rev`, that this repository lacks from `remote` (the original Hangar's
/// `fetch_data_sample`): every value of the `n_keys` samples `keys` (all subsamples of
/// a sample of a nested column), and of a nested column the `n_subsamples` subsamples
/// `subsamples[i]` of sample `sub_samples[i]`. Either array may be NULL when its count is
/// 0. `HANGAR_E_NOT_FOUND`, naming it and with nothing fetched, when a sample or
/// subsample is not in that column at `rev`. Each value's CRC and digest are checked
/// before it is stored.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn hangar_repo_fetch_data_keys(
    repo: *const hangar_repo,
    remote: *const c_char,
    rev: *const c_char,
    column: *const c_char,
    keys: *const hangar_key,
    n_keys: usize,
    sub_samples: *const hangar_key,
    subsamples: *const hangar_key,
    n_subsamples: usize,
    report: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let (remote, rev) = (text(remote, "remote")?, text(rev, "rev")?);
        let column = text(column, "column")?.to_string();
        let keys = keys_arg(keys, n_keys, "keys")?;
        let samples = keys_arg(sub_samples, n_subsamples, "sub_samples")?;
        let subs = keys_arg(subsamples, n_subsamples, "subsamples")?;
        let opts = FetchDataOptions {
            columns: vec![column],
            keys: Some(keys),
            subsamples: samples.into_iter().zip(subs).collect(),
            require_keys: true,
            ..FetchDataOptions::default()
        };
        let rep = r.repo.fetch_data(remote, rev, &opts)?;
        report_out(report, rep.to_string());
        Ok(())
    })
}

/// The remotes, sorted by name: `*names` and `*urls` are new lists of the same length
/// (`hangar_strlist_free` each).
#[no_mangle]
pub extern "C" fn hangar_repo_remotes(
    repo: *const hangar_repo,
    names: *mut *mut hangar_strlist,
    urls: *mut *mut hangar_strlist,
) -> hangar_status {
    guard(|| {
        check_out(names, "names")?;
        check_out(urls, "urls")?;
        let r = handle(repo, "repo")?;
        let remotes = r.repo.remotes()?;
        let (n, u): (Vec<String>, Vec<String>) =
            remotes.into_iter().map(|s| (s.name, s.url)).unzip();
        write_out(names, new_strlist(n));
        write_out(urls, new_strlist(u));
        Ok(())
    })
}

/// Clones the repository at `url` into a new repository at `path` (the remote is added
/// as `origin`; `endpoint`/`region` may be NULL), with every value of its history when
/// `data` is true (a complete copy). On success `*out` is a new handle the caller frees with
/// `hangar_repo_free`.
#[no_mangle]
pub extern "C" fn hangar_repo_clone(
    url: *const c_char,
    endpoint: *const c_char,
    region: *const c_char,
    path: *const c_char,
    user_name: *const c_char,
    user_email: *const c_char,
    data: bool,
    out: *mut *mut hangar_repo,
) -> hangar_status {
    guard_out(out, || {
        let spec = spec("origin", url, endpoint, region)?;
        let (repo, _) = Repository::clone_from(
            text(path, "path")?,
            &spec,
            text(user_name, "user_name")?,
            text(user_email, "user_email")?,
            None,
            data,
        )?;
        Ok(into_handle(hangar_repo { repo }))
    })
}

/// Opens the repository at `url` for reading without cloning its data (`endpoint` and
/// `region` may be NULL): its history and record tables are kept in `cache_dir` (made if
/// missing; reused and updated when it holds them), and reader checkouts fetch each value
/// the first time it is read, keeping up to `cache_bytes` of values in memory (0: the
/// default, 1 GiB). On success `*out` is a new handle the caller frees with
/// `hangar_repo_free`.
#[no_mangle]
pub extern "C" fn hangar_repo_open_remote(
    url: *const c_char,
    endpoint: *const c_char,
    region: *const c_char,
    cache_dir: *const c_char,
    cache_bytes: u64,
    out: *mut *mut hangar_repo,
) -> hangar_status {
    guard_out(out, || {
        let spec = spec("origin", url, endpoint, region)?;
        let repo = Repository::open_remote(
            text(cache_dir, "cache_dir")?,
            &spec,
            cache_or_default(cache_bytes),
        )?;
        Ok(into_handle(hangar_repo { repo }))
    })
}

/// Opens `cache_dir`, which `hangar_repo_open_remote` made, reading values through its
/// remote as that does but fetching and writing nothing: for the worker processes of a
/// job whose main process opened the remote (dataloader workers), each with its own
/// cache of `cache_bytes` (0: 1 GiB). On success `*out` is a new handle the caller frees
/// with `hangar_repo_free`.
#[no_mangle]
pub extern "C" fn hangar_repo_open_remote_cache(
    cache_dir: *const c_char,
    cache_bytes: u64,
    out: *mut *mut hangar_repo,
) -> hangar_status {
    guard_out(out, || {
        let repo = Repository::open_remote_cache(
            text(cache_dir, "cache_dir")?,
            "origin",
            cache_or_default(cache_bytes),
        )?;
        Ok(into_handle(hangar_repo { repo }))
    })
}

fn cache_or_default(cache_bytes: u64) -> u64 {
    if cache_bytes == 0 {
        hangar_core::remote::DEFAULT_CACHE_BYTES
    } else {
        cache_bytes
    }
}

/// The streaming figures of a repository opened with `hangar_repo_open_remote`: value
/// reads served from its cache (`hits`), fetched (`misses`) and the bytes received (each
/// may be NULL). `HANGAR_E_INVALID_ARGUMENT` for a repository opened otherwise.
#[no_mangle]
pub extern "C" fn hangar_repo_stream_stats(
    repo: *const hangar_repo,
    hits: *mut u64,
    misses: *mut u64,
    bytes_fetched: *mut u64,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let s = r.repo.stream_stats()?.ok_or_else(|| {
            hangar_core::Error::InvalidArgument(
                "this repository was not opened with hangar_repo_open_remote".into(),
            )
        })?;
        for (p, v) in [
            (hits, s.hits),
            (misses, s.misses),
            (bytes_fetched, s.bytes_fetched),
        ] {
            if !p.is_null() {
                crate::boundary::write_out(p, v);
            }
        }
        Ok(())
    })
}

/// A remote named `name` from the C strings a caller passed (`endpoint`, `region` may be NULL).
fn spec(
    name: &str,
    url: *const c_char,
    endpoint: *const c_char,
    region: *const c_char,
) -> FfiResult<RemoteSpec> {
    Ok(RemoteSpec {
        name: name.to_string(),
        url: text(url, "url")?.to_string(),
        endpoint: opt_text(endpoint, "endpoint")?.map(str::to_string),
        region: opt_text(region, "region")?.map(str::to_string),
    })
}

/// The number of samples of revision `rev` (NULL: the current branch's head) whose value
/// is not stored here (a partial clone's values not fetched yet), of `column` only
/// (NULL: every column) into `*count`; 0 in a repository that never fetched.
#[no_mangle]
pub extern "C" fn hangar_repo_not_fetched(
    repo: *const hangar_repo,
    rev: *const c_char,
    column: *const c_char,
    count: *mut u64,
) -> hangar_status {
    guard_out(count, || {
        let r = handle(repo, "repo")?;
        let column = opt_text(column, "column")?;
        let per_column = r.repo.not_fetched(opt_text(rev, "rev")?)?;
        Ok(per_column
            .iter()
            .filter(|(c, _)| column.is_none_or(|want| want == c))
            .map(|(_, n)| n)
            .sum())
    })
}
