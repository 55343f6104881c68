use clap_complete::Shell;

use crate::app::Ctx;

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hangar completions bash > ~/.local/share/bash-completion/completions/hangar
  hangar completions zsh > ~/.zfunc/_hangar
  hangar completions fish > ~/.config/fish/completions/hangar.fish")]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(_ctx: &mut Ctx, a: Args, mut cmd: clap::Command) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "hangar", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(())
}
