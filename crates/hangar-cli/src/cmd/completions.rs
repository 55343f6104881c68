use std::io::Write;

use crate::app::Ctx;

/// The shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Print a shell completion script: commands and options, and the names of the branches
/// and columns of the repository you are in, asked of `hangar` as you type.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hangar completions bash > ~/.local/share/bash-completion/completions/hangar
  hangar completions zsh > ~/.zfunc/_hangar
  hangar completions fish > ~/.config/fish/completions/hangar.fish
  source <(hangar completions bash)      # this shell only

The script runs `COMPLETE=SHELL hangar ...` to complete a word, so `hangar` must be on
your PATH.")]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(_ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let name = match a.shell {
        Shell::Bash => "bash",
        Shell::Zsh => "zsh",
        Shell::Fish => "fish",
        Shell::Elvish => "elvish",
        Shell::Powershell => "powershell",
    };
    let shells = clap_complete::env::Shells::builtins();
    let shell = shells
        .completer(name)
        .ok_or_else(|| anyhow::anyhow!("no completion script for {name}"))?;
    let mut out = Vec::new();
    shell.write_registration("COMPLETE", "hangar", "hangar", "hangar", &mut out)?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(())
}
