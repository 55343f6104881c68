//! Remotes: `remote add/remove/list`, `push`, `fetch`, `pull`, `clone`, `fetch-data`.

use hangar_core::{FetchDataOptions, RemoteSpec, Repository};
use serde_json::json;

use crate::app::{Ctx, Ending};
use crate::output;

const REMOTE_HELP: &str = "\
A remote is a directory (file:///absolute/dir, or a path: /srv/x, ./x, ../x, or an
existing directory's name, kept as its absolute file:// URL), or s3://bucket/prefix on
AWS or any server that speaks S3 (give --endpoint for one that is not AWS). A remote is
what `hangar push` writes, not a repository's own directory. Credentials are never stored in the
repository: they come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else from the
profile in ~/.aws/credentials and ~/.aws/config (AWS_PROFILE, else default), as for the
aws command; AWS_REGION and AWS_ENDPOINT_URL, else the profile's region and endpoint_url,
are read too.

Examples:
  hangar remote add origin file:///srv/datasets/fashion
  hangar remote add origin s3://datasets/fashion --endpoint http://127.0.0.1:3900 --region garage
  hangar remote list
  hangar remote remove origin";

/// Add, remove or list remotes (alone: `list`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

/// What the command does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a remote.
    #[command(after_help = REMOTE_HELP)]
    Add {
        /// Its name here (origin).
        name: String,
        /// A directory (file:///dir or a path) or s3://bucket/prefix.
        url: String,
        /// The S3 server's endpoint, for a server that is not AWS.
        #[arg(long)]
        endpoint: Option<String>,
        /// The S3 region.
        #[arg(long)]
        region: Option<String>,
    },
    /// Remove a remote (what was fetched from it stays).
    Remove {
        /// The remote's name.
        name: String,
    },
    /// List the remotes and the branch heads last seen on each.
    List,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    match a.command.unwrap_or(Command::List) {
        Command::Add {
            name,
            url,
            endpoint,
            region,
        } => {
            repo.add_remote(&RemoteSpec {
                name: name.clone(),
                url: url.clone(),
                endpoint,
                region,
            })?;
            if ctx.json {
                output::print_json(&json!({"added": name, "url": url}))?;
            } else {
                ctx.done(&format!("Added remote {name} at {url}"))?;
            }
        }
        Command::Remove { name } => {
            repo.remove_remote(&name)?;
            if ctx.json {
                output::print_json(&json!({ "removed": name }))?;
            } else {
                ctx.done(&format!("Removed remote {name}"))?;
            }
        }
        Command::List => {
            let remotes = repo.remotes()?;
            let tracking = repo.tracking_refs()?;
            if ctx.json {
                let docs: Vec<_> = remotes
                    .iter()
                    .map(|r| {
                        let heads: serde_json::Map<String, serde_json::Value> = tracking
                            .iter()
                            .filter(|t| t.remote == r.name)
                            .map(|t| (t.branch.clone(), json!(t.head.to_hex())))
                            .collect();
                        json!({"name": r.name, "url": r.url, "endpoint": r.endpoint,
                               "region": r.region, "branches": heads})
                    })
                    .collect();
                output::print_json(&json!({ "remotes": docs }))?;
            } else {
                if remotes.is_empty() {
                    ctx.note("No remotes; `hangar remote add NAME URL` adds one.");
                }
                for r in &remotes {
                    // An S3 remote's own endpoint and region (where the URL alone does
                    // not say which server it is).
                    let settings: Vec<String> = [("endpoint", &r.endpoint), ("region", &r.region)]
                        .iter()
                        .filter_map(|(what, v)| v.as_ref().map(|v| format!("{what} {v}")))
                        .collect();
                    let settings = if settings.is_empty() {
                        String::new()
                    } else {
                        format!("\t({})", settings.join(", "))
                    };
                    output::println(&format!("{}\t{}{settings}", r.name, r.url))?;
                    for t in tracking.iter().filter(|t| t.remote == r.name) {
                        output::println(&format!(
                            "  {}/{}\t{}",
                            t.remote,
                            t.branch,
                            t.head.short()
                        ))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Upload a branch to a remote.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Uploads only what the remote lacks (the values and metadata the remote's \
manifests do not list), then moves the remote's branch: objects always before the ref. \
Refused (exit 2, kind conflict) when the remote's branch has commits yours does not contain: \
run `hangar pull REMOTE BRANCH`, then push again.

Examples:
  hangar push origin master
  hangar push origin dev --json"
)]
pub struct PushArgs {
    /// The remote.
    remote: String,
    /// The branch (default: the current branch).
    branch: Option<String>,
}

pub fn push(ctx: &mut Ctx, a: PushArgs) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let branch = match a.branch {
        Some(b) => b,
        None => repo.staging_branch()?,
    };
    let r = repo.push(&a.remote, &branch)?;
    if ctx.json {
        output::print_json(&json!({
            "remote": r.remote, "branch": r.branch, "head": r.head.to_hex(),
            "up_to_date": r.up_to_date, "commits": r.commits, "objects": r.objects,
            "values": r.values, "bytes": r.bytes,
        }))?;
    } else {
        ctx.done(&r.to_string())?;
    }
    Ok(())
}

/// Fetch history and record tables (no sample data) from a remote.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Moves the tracking refs (REMOTE/BRANCH, usable wherever a revision is: \
`hangar log origin/master`, `hangar merge origin/master`). Sample values stay on the remote \
until `hangar fetch-data`; reading one before is an error of kind not_fetched.

Examples:
  hangar fetch origin
  hangar fetch origin master"
)]
pub struct FetchArgs {
    /// The remote.
    remote: String,
    /// Only this branch (default: every branch).
    branch: Option<String>,
}

fn fetch_doc(r: &hangar_core::FetchReport) -> serde_json::Value {
    json!({
        "remote": r.remote,
        "branches": r.branches.iter().map(|(b, h)| json!({"branch": b, "head": h.to_hex()})).collect::<Vec<_>>(),
        "diverged": r.diverged.iter().map(|(b, hs)| json!({"branch": b, "other_heads": hs.iter().map(|h| h.to_hex()).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "objects": r.objects, "bytes": r.bytes,
    })
}

pub fn fetch(ctx: &mut Ctx, a: FetchArgs) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let r = repo.fetch(&a.remote, a.branch.as_deref())?;
    if ctx.json {
        output::print_json(&fetch_doc(&r))?;
    } else {
        ctx.done(&r.to_string())?;
    }
    Ok(())
}

/// Fetch a branch from a remote and merge it into the local branch of that name.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A fast-forward when possible, otherwise a merge commit; on a conflict \
nothing changes and the conflicts are listed by `hangar merge REMOTE/BRANCH`.

Examples:
  hangar pull origin master"
)]
pub struct PullArgs {
    /// The remote.
    remote: String,
    /// The branch (default: the current branch).
    branch: Option<String>,
    /// The merge commit's message.
    #[arg(short, long = "message", value_name = "MSG")]
    message: Option<String>,
}

pub fn pull(ctx: &mut Ctx, a: PullArgs) -> anyhow::Result<Ending> {
    let repo = ctx.open()?;
    let branch = match a.branch {
        Some(b) => b,
        None => repo.staging_branch()?,
    };
    let message = a
        .message
        .unwrap_or_else(|| format!("Merge {}/{branch} into {branch}", a.remote));
    match repo.pull(&a.remote, &branch, &message) {
        Ok((r, outcome)) => {
            if ctx.json {
                let mut doc = fetch_doc(&r);
                doc["head"] = json!(outcome.head().to_hex());
                output::print_json(&doc)?;
            } else {
                ctx.done(&r.to_string())?;
                ctx.done(&format!("{branch} is now at {}", outcome.head().short()))?;
            }
            Ok(Ending::Done)
        }
        Err(e) => Ending::from_core(e),
    }
}

/// Copy a remote repository into a new directory.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "History and record tables of every branch come at once; sample values \
only with --data (all of them: a complete copy) or later, exactly those wanted, with `hangar fetch-data`. The remote is \
added as origin.

Examples:
  hangar clone file:///srv/datasets/fashion fashion
  hangar clone s3://datasets/fashion fashion --endpoint http://127.0.0.1:3900 --data"
)]
pub struct CloneArgs {
    /// A directory (file:///dir or a path) or s3://bucket/prefix.
    url: String,
    /// The new repository's directory.
    dir: std::path::PathBuf,
    /// Fetch every value of the checked-out branch's history too (a complete copy).
    #[arg(long)]
    data: bool,
    /// The branch to check out (default: master).
    #[arg(long)]
    branch: Option<String>,
    /// The S3 server's endpoint, for a server that is not AWS.
    #[arg(long)]
    endpoint: Option<String>,
    /// The S3 region.
    #[arg(long)]
    region: Option<String>,
    /// Your name, recorded in commits (else as for init).
    #[arg(long)]
    name: Option<String>,
    /// Your email, recorded in commits (else as for init).
    #[arg(long)]
    email: Option<String>,
}

pub fn clone(ctx: &mut Ctx, a: CloneArgs) -> anyhow::Result<()> {
    let name = crate::user::resolve("name", a.name)?;
    let email = crate::user::resolve("email", a.email)?;
    let spec = RemoteSpec {
        name: "origin".into(),
        url: a.url.clone(),
        endpoint: a.endpoint,
        region: a.region,
    };
    let dir = if a.dir.is_absolute() {
        a.dir.clone()
    } else {
        ctx.start_dir()?.join(&a.dir)
    };
    let (repo, r) =
        Repository::clone_from(&dir, &spec, &name, &email, a.branch.as_deref(), a.data)?;
    if ctx.json {
        let mut doc = fetch_doc(&r);
        doc["path"] = json!(repo.path());
        output::print_json(&doc)?;
    } else {
        ctx.done(&format!("Cloned {} into {}", a.url, repo.path().display()))?;
        ctx.done(&r.to_string())?;
    }
    Ok(())
}

/// Fetch sample values from a remote: exactly those asked for.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads only the byte ranges of the values wanted (and not already here); \
each value's CRC and digest are checked before it is stored.

Examples:
  hangar fetch-data origin master
  hangar fetch-data origin origin/master --column images --range 0..1000
  hangar fetch-data origin master --column images --keys 5 17 str:cat
  hangar fetch-data origin master --column crops --keys 5/left 5/right
  hangar fetch-data origin master --max-bytes 100M"
)]
pub struct FetchDataArgs {
    /// The remote.
    remote: String,
    /// The commit whose values to fetch: a branch, REMOTE/BRANCH or a commit id.
    rev: String,
    /// Only these columns.
    #[arg(long = "column", value_name = "COLUMN")]
    columns: Vec<String>,
    /// Only these samples (every subsample of a nested column's sample), or KEY/SUB for
    /// one subsample; each must exist at REV, else nothing is fetched.
    #[arg(long, num_args = 1.., conflicts_with = "range", value_name = "KEY")]
    keys: Vec<String>,
    /// Only integer sample keys A..B (B excluded).
    #[arg(long, value_name = "A..B")]
    range: Option<String>,
    /// Stop before the values fetched exceed this many bytes (a number, or with a suffix:
    /// 500M, 2G, 1.5GB).
    #[arg(long, value_name = "SIZE", value_parser = hangar_cli::formats::parse_size)]
    max_bytes: Option<u64>,
    /// The values of REV's whole history too (a complete copy), not only of REV.
    #[arg(long)]
    history: bool,
}

pub fn fetch_data(ctx: &mut Ctx, a: FetchDataArgs) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let (mut keys, mut subsamples) = (Vec::new(), Vec::new());
    if !a.keys.is_empty() {
        // Bare digits are the string key where one of that name exists at REV (in a
        // selected column), else the integer key, as everywhere in the CLI; every key
        // must then exist (a mistyped key is an error, not an empty fetch).
        let co = repo.checkout_commit(&repo.resolve(&a.rev)?.to_hex())?;
        let cols: Vec<_> = if a.columns.is_empty() {
            co.column_names()?
        } else {
            a.columns.clone()
        };
        let cols = cols
            .iter()
            .map(|c| co.column(c))
            .collect::<Result<Vec<_>, _>>()?;
        // True if `has` holds for one of the selected columns.
        let in_any = |has: &dyn Fn(&hangar_core::ReaderColumn) -> hangar_core::Result<bool>| {
            for c in &cols {
                if has(c)? {
                    return Ok(true);
                }
            }
            anyhow::Ok(false)
        };
        for k in &a.keys {
            let (key, sub) = crate::keys::parse_path(k)?;
            let key = key.resolve(|s| in_any(&|c| c.contains(s.clone())))?;
            match sub {
                None => keys.push(key),
                Some(sub) => {
                    let sub = sub.resolve(|s| {
                        in_any(&|c| {
                            Ok(c.is_nested()? && c.contains_subsample(key.clone(), s.clone())?)
                        })
                    })?;
                    subsamples.push((key, sub));
                }
            }
        }
    }
    let range = match &a.range {
        None => None,
        Some(r) => {
            let (lo, hi) = r
                .split_once("..")
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .ok_or_else(|| {
                    anyhow::anyhow!("--range {r:?} is not A..B with integers A <= B (e.g. 0..1000)")
                })?;
            anyhow::ensure!(lo <= hi, "--range {r:?}: the start is after the end");
            Some(lo..hi)
        }
    };
    let require_keys = !a.keys.is_empty();
    let opts = FetchDataOptions {
        columns: a.columns,
        keys: (!keys.is_empty() || !subsamples.is_empty()).then_some(keys),
        subsamples,
        require_keys,
        range,
        max_bytes: a.max_bytes,
        history: a.history,
    };
    let r = repo.fetch_data(&a.remote, &a.rev, &opts)?;
    if ctx.json {
        output::print_json(&json!({
            "values": r.values, "value_bytes": r.value_bytes, "bytes": r.bytes,
            "already_local": r.already_local, "in_records": r.in_records, "skipped": r.skipped,
        }))?;
    } else {
        ctx.done(&r.to_string())?;
    }
    Ok(())
}
