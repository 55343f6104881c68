//! Who commits: the name and email `hangar init` records.
//!
//! Taken from, in order: `--name`/`--email`; `HANGAR_USER_NAME`/`HANGAR_USER_EMAIL`; the
//! config file (`$HANGAR_CONFIG`, else `$XDG_CONFIG_HOME/hangar/config`, else
//! `~/.config/hangar/config`), TOML with `name = "..."` and `email = "..."`; git's
//! `user.name` / `user.email` (as `git config` reports them); and, on a terminal, a
//! question.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};

/// The config file's path, if one can be named.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HANGAR_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("hangar").join("config"));
    }
    std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".config")
            .join("hangar")
            .join("config")
    })
}

/// The config file's settings (other keys are left for other versions of hangar).
#[derive(Debug, Default, serde::Deserialize)]
struct ConfigFile {
    name: Option<String>,
    email: Option<String>,
}

/// `name` or `email` from the config file, if it is there and set (not empty).
fn config_value(key: &str) -> anyhow::Result<Option<String>> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start.min(text.len()));
        let line = text[..at].matches('\n').count() + 1;
        anyhow::anyhow!(
            "cannot read the config file {} (line {line}: {}); it is TOML, e.g. \
             name = \"Ada Lovelace\" and email = \"ada@example.com\" on lines of their own",
            path.display(),
            e.message().trim_end()
        )
    })?;
    let value = match key {
        "name" => config.name,
        "email" => config.email,
        _ => None,
    };
    Ok(value.filter(|v| !v.trim().is_empty()))
}

/// git's `user.<what>` (`git config --get`), when git is installed and it is set.
fn git_value(what: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "--get", &format!("user.{what}")])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

fn ask(question: &str) -> anyhow::Result<Option<String>> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    eprint!("{question}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let v = line.trim().to_string();
    Ok((!v.is_empty()).then_some(v))
}

/// One identity field from the environment or the config file, without asking.
pub fn resolve_quiet(what: &str) -> Option<String> {
    let env = format!("HANGAR_USER_{}", what.to_ascii_uppercase());
    std::env::var(&env)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| config_value(what).ok().flatten())
}

/// One identity field (`what` is "name" or "email").
pub fn resolve(what: &str, flag: Option<String>) -> anyhow::Result<String> {
    if let Some(v) = flag {
        return Ok(v);
    }
    let env = format!("HANGAR_USER_{}", what.to_ascii_uppercase());
    if let Some(v) = std::env::var(&env).ok().filter(|v| !v.trim().is_empty()) {
        return Ok(v);
    }
    if let Some(v) = config_value(what)? {
        return Ok(v);
    }
    if let Some(v) = git_value(what) {
        return Ok(v);
    }
    if let Some(v) = ask(&format!("Your {what} for commits"))? {
        return Ok(v);
    }
    let file = config_path().map_or_else(
        || "~/.config/hangar/config".into(),
        |p| p.display().to_string(),
    );
    bail!(
        "no user {what} for commits: pass --{what}, set {env}, write `{what} = ...` in {file}, \
         or set git's (git config --global user.{what} ...)"
    )
}
