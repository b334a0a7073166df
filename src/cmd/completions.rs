//! `cosinv completions <shell>`: a completion script on stdout.

use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs};
use super::exit;

/// `cosinv completions`.
pub fn run(args: &CompletionsArgs) -> u8 {
    let mut command = Cli::command();
    let mut stdout = std::io::stdout();
    clap_complete::generate(args.shell, &mut command, "cosinv", &mut stdout);
    exit::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_subcommands() {
        let mut command = Cli::command();
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut command,
            "cosinv",
            &mut script,
        );
        let script = String::from_utf8(script).unwrap();
        assert!(script.contains("apply") && script.contains("--from-report"));
    }
}
