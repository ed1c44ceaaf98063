//! `refuel-sql completions bash|zsh|fish|...`: a completion script for a shell.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script on standard output.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut out = std::io::stdout();
    clap_complete::generate(args.shell, &mut command, "refuel-sql", &mut out);
    std::io::Write::flush(&mut out)?;
    Ok(())
}
