//! `hangar`: version control for tensor data, from the shell.
//!
//! How the crates fit together — what each may know, the path of a write and of a
//! read, the commit point, the invariants — is in `ARCHITECTURE.md` at the repository
//! root.
//!
//! A thin layer over `hangar-core`: each subcommand is one module under `cmd/`, parsing
//! with clap and printing through [`output::Out`] (people's text, or `--json` documents
//! described in `docs/cli.md`). Exit codes: 0 success, 1 a negative answer (merge
//! conflict, verify found problems, nothing to commit), 2 an error.

#![forbid(unsafe_code)]

mod app;
mod cmd;
mod complete;
mod documents;
mod keys;
mod output;
mod pager;
mod user;
mod views;

use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use hangar_cli::formats;

use crate::app::{done, Ctx, Ending};

const EXIT_HELP: &str = "\
Exit status: 0 success; 1 a negative answer (a merge conflict, verify found problems,
nothing to commit, an aborted commit); 2 an error (the message says what to do); 3 an
internal error (a bug in hangar: please report it).

Environment: HANGAR_REPO (the repository, as -C but without changing directory),
HANGAR_USER_NAME / HANGAR_USER_EMAIL and HANGAR_CONFIG (for init),
HANGAR_MAX_SAMPLE_BYTES (import's per-sample limit), HANGAR_PAGER / PAGER,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE (~/.aws), AWS_REGION,
AWS_ENDPOINT_URL, HANGAR_REMOTE_TIMEOUT (s3:// remotes), XDG_CACHE_HOME (cat --remote's
cache), HANGAR_PAGE_CACHE_MB, NO_COLOR, CLICOLOR_FORCE, HANGAR_EDITOR / VISUAL / EDITOR
(commit messages). All are described in docs/cli.md (Environment).

Start with `hangar quickstart` for a demo repository, or `hangar init`.";

/// Version control for tensor data: commit, branch, merge, diff and read any past version
/// of your arrays exactly.
#[derive(Debug, Parser)]
#[command(name = "hangar", version, about, after_help = EXIT_HELP, arg_required_else_help = true)]
struct Cli {
    /// Run as if started in DIR, as git's -C (relative paths are DIR's); HANGAR_REPO
    /// names the repository without changing directory.
    #[arg(
        short = 'C',
        long = "repo",
        value_name = "DIR",
        global = true,
        env = "HANGAR_REPO"
    )]
    repo: Option<std::path::PathBuf>,

    /// Print machine-readable JSON (documented in docs/cli.md) instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Quiet, as git's -q: no progress bars or notes, and no result line from commands
    /// that change something (commit, checkout, branch, merge, ...); errors, warnings and
    /// what a command is asked to show still print.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Colours: auto (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces them),
    /// always (wins over NO_COLOR) or never.
    // One entry in every subcommand's --help, not eight: the values are in the text.
    #[arg(
        long,
        value_enum,
        default_value_t = output::ColorWhen::Auto,
        global = true,
        value_name = "WHEN",
        hide_possible_values = true,
        hide_default_value = true
    )]
    color: output::ColorWhen,

    /// Send the output through a pager (HANGAR_PAGER, else PAGER, else less), even when
    /// stdout is not a terminal. log, diff and show use one on a terminal anyway.
    #[arg(short = 'p', long, conflicts_with = "no_pager")]
    paginate: bool,

    /// Never use a pager.
    #[arg(long)]
    no_pager: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(cmd::init::Args),
    Status(cmd::status::Args),
    Commit(cmd::commit::Args),
    Reset(cmd::reset::Args),
    Log(cmd::log::Args),
    Summary(cmd::summary::Args),
    Show(cmd::show::Args),
    Column(cmd::column::Args),
    Branch(cmd::branch::Args),
    Checkout(cmd::checkout::Args),
    Diff(cmd::diff::Args),
    Merge(cmd::merge::Args),
    Import(cmd::import::Args),
    Export(cmd::export::Args),
    Cat(cmd::cat::Args),
    Rm(cmd::rm::Args),
    Metadata(cmd::metadata::Args),
    Verify(cmd::verify::Args),
    Gc(cmd::gc::Args),
    Remote(cmd::remote::Args),
    Push(cmd::remote::PushArgs),
    Fetch(cmd::remote::FetchArgs),
    Pull(cmd::remote::PullArgs),
    Clone(cmd::remote::CloneArgs),
    FetchData(cmd::remote::FetchDataArgs),
    WriterLock(cmd::writer_lock::Args),
    Quickstart(cmd::quickstart::Args),
    Completions(cmd::completions::Args),
}

/// Runs the command: its ending (done, or a negative answer), or its error.
fn run(cli: Cli, ctx: &mut Ctx) -> anyhow::Result<Ending> {
    match cli.command {
        Command::Init(a) => done(cmd::init::run(ctx, a)),
        Command::Status(a) => done(cmd::status::run(ctx, a)),
        Command::Commit(a) => cmd::commit::run(ctx, a),
        Command::Reset(a) => cmd::reset::run(ctx, a),
        Command::Log(a) => done(cmd::log::run(ctx, a)),
        Command::Summary(a) => done(cmd::summary::run(ctx, a)),
        Command::Show(a) => done(cmd::show::run(ctx, a)),
        Command::Column(a) => done(cmd::column::run(ctx, a)),
        Command::Branch(a) => done(cmd::branch::run(ctx, a)),
        Command::Checkout(a) => done(cmd::checkout::run(ctx, a)),
        Command::Diff(a) => done(cmd::diff::run(ctx, a)),
        Command::Merge(a) => cmd::merge::run(ctx, a),
        Command::Import(a) => cmd::import::run(ctx, a),
        Command::Export(a) => done(cmd::export::run(ctx, a)),
        Command::Cat(a) => done(cmd::cat::run(ctx, a)),
        Command::Rm(a) => done(cmd::rm::run(ctx, a)),
        Command::Metadata(a) => done(cmd::metadata::run(ctx, a)),
        Command::Remote(a) => done(cmd::remote::run(ctx, a)),
        Command::Push(a) => done(cmd::remote::push(ctx, a)),
        Command::Fetch(a) => done(cmd::remote::fetch(ctx, a)),
        Command::Pull(a) => cmd::remote::pull(ctx, a),
        Command::Clone(a) => done(cmd::remote::clone(ctx, a)),
        Command::FetchData(a) => done(cmd::remote::fetch_data(ctx, a)),
        Command::Verify(a) => cmd::verify::run(ctx, a),
        Command::Gc(a) => cmd::gc::run(ctx, a),
        Command::WriterLock(a) => done(cmd::writer_lock::run(ctx, a)),
        Command::Quickstart(a) => done(cmd::quickstart::run(ctx, a)),
        Command::Completions(a) => done(cmd::completions::run(ctx, a)),
    }
}

/// Exit status of an internal error (a panic: a bug in hangar).
const EXIT_INTERNAL: u8 = 3;

fn main() -> ExitCode {
    // Freed heap memory is kept for the next batch rather than given back and faulted in
    // again (`keep_heap_pad` has the figures).
    hangar_core::keep_heap_pad();
    // A shell asking for completions (COMPLETE=SHELL, set by the script `hangar
    // completions SHELL` prints) is answered here, before anything else runs.
    clap_complete::CompleteEnv::with_factory(<Cli as CommandFactory>::command).complete();
    // A panic is a bug in hangar, never the user's fault: one clear line and exit 3, not
    // Rust's panic report and 101. Whatever was acknowledged before stays (the staging
    // journal and commits are crash-safe).
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        output::error(&format!(
            "internal error (a bug in hangar, not a problem with your data): {what}{at}; \
             what was already staged or committed is kept. Please report it with the command \
             you ran"
        ));
    }));
    match std::panic::catch_unwind(real_main) {
        Ok(code) => code,
        Err(_) => ExitCode::from(EXIT_INTERNAL),
    }
}

fn real_main() -> ExitCode {
    // Lets the tests (and anyone checking a packaging) see the internal-error path.
    if std::env::var_os("HANGAR_DEBUG_PANIC").is_some() {
        panic!("HANGAR_DEBUG_PANIC is set");
    }
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    output::set_color(cli.color);
    // -C DIR on the command line is git's -C: the process moves there, so every relative
    // path is DIR's. HANGAR_REPO only names the repository.
    let mut repo_dir = cli.repo.clone();
    let mut moved_to = None;
    if matches.value_source("repo") == Some(clap::parser::ValueSource::CommandLine) {
        if let Some(dir) = repo_dir.take() {
            if let Err(e) = std::env::set_current_dir(&dir) {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "the directory does not exist".to_string()
                } else {
                    e.to_string()
                };
                output::error(&format!("cannot change to {} (-C): {why}", dir.display()));
                return ExitCode::from(2);
            }
            moved_to = Some(std::env::current_dir().unwrap_or(dir));
        }
    }
    let mut ctx = Ctx::new(repo_dir, cli.json, cli.quiet);
    let json = cli.json;
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let pages_by_default = matches
        .subcommand_name()
        .is_some_and(|c| pager::PAGED_BY_DEFAULT.contains(&c));
    // The pager shows our colours on the terminal (less -R) when they would be shown
    // without it.
    let colors = match cli.color {
        output::ColorWhen::Always => true,
        output::ColorWhen::Never => false,
        output::ColorWhen::Auto => on_terminal && std::env::var_os("NO_COLOR").is_none(),
    };
    let pager = (!json)
        .then(|| {
            let (force, off) = (cli.paginate, cli.no_pager);
            pager::start(force, off, pages_by_default, on_terminal, colors)
        })
        .flatten();
    let code = exit_code(run(cli, &mut ctx), json, moved_to.as_deref());
    if let Some(p) = pager {
        p.finish();
    }
    code
}

/// The exit status of a command's result, after reporting a negative answer or an error.
fn exit_code(result: anyhow::Result<Ending>, json: bool, moved_to: Option<&Path>) -> ExitCode {
    let (code, kind, message) = match result {
        Ok(Ending::Done) => return ExitCode::SUCCESS,
        Err(e) if app::is_broken_pipe(&e) => return ExitCode::SUCCESS,
        Ok(Ending::Negative { message, kind }) => {
            if !message.is_empty() {
                output::note(&message);
            }
            (1u8, kind, message)
        }
        Err(e) => {
            let mut text = app::describe(&e);
            // A file not found after -C: say where relative paths were looked for.
            let not_found = app::io_kind(&e) == Some(std::io::ErrorKind::NotFound);
            if let Some(dir) = moved_to.filter(|_| not_found) {
                text.push_str(&format!(
                    " (relative paths are taken from {}, the -C directory, as with git -C)",
                    dir.display()
                ));
            }
            output::error(&text);
            (2u8, app::error_kind(&e), text)
        }
    };
    // Under --json every path prints a document: an error's own, unless the command
    // already printed one (verify's report, a merge's conflicts).
    if json && !output::json_printed() {
        let _ = output::print_json(&documents::ErrorDoc {
            error: documents::ErrorBody {
                kind,
                message,
                exit_code: code,
            },
        });
    }
    ExitCode::from(code)
}
