//! `refuel-sql completions bash|zsh|fish|...`: a completion script for a shell.

use clap_complete::Shell;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script of `command` (the whole command line) on standard output.
pub fn run(args: &CompletionsArgs, mut command: clap::Command) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    clap_complete::generate(args.shell, &mut command, "refuel-sql", &mut out);
    std::io::Write::flush(&mut out)?;
    Ok(())
}
