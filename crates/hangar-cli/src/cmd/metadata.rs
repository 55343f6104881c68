use crate::app::Ctx;
use crate::documents;
use crate::output;

/// List, read, set and delete the repository's metadata, key-value text (alone: `list`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

/// What the command does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every key and value at the branch head (or REV; --staged: the staging area).
    #[command(after_help = "Examples:
  hangar metadata list
  hangar metadata list dev --json")]
    List(ReadArgs),
    /// One value at the branch head (or REV; --staged: the staging area).
    #[command(after_help = "Example:
  hangar metadata get source")]
    Get(GetArgs),
    /// Stage a key's value (commit to keep it).
    #[command(after_help = "Example:
  hangar metadata set source \"Fashion-MNIST, Zalando Research\"")]
    Set(SetArgs),
    /// Stage a key's deletion.
    #[command(after_help = "Example:
  hangar metadata delete source")]
    Delete(DeleteArgs),
}

#[derive(Debug, Default, clap::Args)]
pub struct ReadArgs {
    /// A branch or commit; default: the current branch's head.
    #[arg(add = crate::complete::rev())]
    rev: Option<String>,
    /// Read the staging area (committed and staged changes).
    #[arg(long, conflicts_with = "rev")]
    staged: bool,
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The key.
    key: String,
    #[command(flatten)]
    at: ReadArgs,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The key (letters, digits, '_', '.', '-').
    key: String,
    /// The value (text).
    value: String,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The key.
    key: String,
}

/// The (key, value) pairs the read asks for, sorted by key.
fn read_all(ctx: &Ctx, at: &ReadArgs) -> anyhow::Result<Vec<(String, String)>> {
    let repo = ctx.open()?;
    let mut out = Vec::new();
    if at.staged {
        let co = ctx.staged_records(&repo)?;
        for k in co.metadata_keys()? {
            if let Some(v) = co.metadata(&k)? {
                out.push((k, v));
            }
        }
    } else {
        let co = match &at.rev {
            Some(rev) => repo.checkout_commit(&repo.resolve(rev)?.to_hex())?,
            None => repo.checkout().map_err(|e| match e.kind() {
                // Before the first commit only the staging area has metadata.
                hangar_core::ErrorKind::NotFound => anyhow::Error::new(e)
                    .context("no committed metadata to read (add --staged to read what is staged)"),
                _ => e.into(),
            })?,
        };
        let m = co.metadata();
        for k in m.keys()? {
            let v = m.get(&k)?;
            out.push((k, v));
        }
    }
    out.sort();
    Ok(out)
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    match a.command.unwrap_or(Command::List(ReadArgs::default())) {
        Command::List(at) => {
            let all = read_all(ctx, &at)?;
            if ctx.json {
                return Ok(output::print_json(&documents::MetadataList {
                    metadata: all.into_iter().collect(),
                })?);
            }
            let mut text = String::new();
            for (k, v) in &all {
                text.push_str(&format!("{k}: {v}\n"));
            }
            if all.is_empty() {
                ctx.note("No metadata.");
            }
            Ok(output::print(&text)?)
        }
        Command::Get(a) => {
            let all = read_all(ctx, &a.at)?;
            let Some((_, v)) = all.into_iter().find(|(k, _)| *k == a.key) else {
                anyhow::bail!(
                    "no metadata key {:?}; `hangar metadata list` shows the keys",
                    a.key
                );
            };
            if ctx.json {
                return Ok(output::print_json(&documents::MetadataValue {
                    key: a.key,
                    value: v,
                })?);
            }
            Ok(output::println(&v)?)
        }
        Command::Set(a) => {
            let repo = ctx.open()?;
            let co = ctx.writer(&repo)?;
            co.metadata().set(&a.key, &a.value)?;
            co.close()?;
            if ctx.json {
                return Ok(output::print_json(&documents::MetadataSet {
                    key: a.key,
                    value: a.value,
                    staged: true,
                })?);
            }
            ctx.note(&format!(
                "Staged metadata {:?}; `hangar commit -m MSG` keeps it.",
                a.key
            ));
            Ok(())
        }
        Command::Delete(a) => {
            let repo = ctx.open()?;
            let co = ctx.writer(&repo)?;
            co.metadata().delete(&a.key)?;
            co.close()?;
            if ctx.json {
                return Ok(output::print_json(&documents::MetadataDeleted {
                    key: a.key,
                    deleted: true,
                })?);
            }
            ctx.note(&format!(
                "Staged the deletion of metadata {:?}; `hangar commit -m MSG` keeps it.",
                a.key
            ));
            Ok(())
        }
    }
}
