//! `cosinv man`: the manual page (roff), from the same definition as
//! `--help`, on stdout or one file per command in a folder.

use std::io::Write;
use std::path::Path;

use clap::{Command, CommandFactory};
use clap_mangen::Man;

use super::args::{Cli, ManArgs};
use super::exit;

/// `cosinv man`.
pub fn run(args: &ManArgs) -> u8 {
    let written = match &args.out_dir {
        Some(dir) => write_pages(dir),
        None => {
            let mut stdout = std::io::stdout().lock();
            render(&built(), &mut stdout).and_then(|()| stdout.flush())
        }
    };
    match written {
        Ok(()) => exit::SUCCESS,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(err) => {
            eprintln!("cosinv man: cannot write the manual page: {err}");
            exit::USAGE
        }
    }
}

/// The command line as `--help` shows it, every subcommand's name full
/// (`cosinv-apply`), as the pages are named.
fn built() -> Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// `cosinv.1`, `cosinv-apply.1`, … in `dir`.
fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_page(&built(), dir)
}

fn write_page(command: &Command, dir: &Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_page(sub, dir)?;
    }
    let name = command.get_display_name().unwrap_or(command.get_name());
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{name}.1")))?);
    render(command, &mut file)?;
    file.flush()
}

/// One page: clap's sections, then what `--help` says after the options
/// as sections of their own (EXAMPLES, EXIT STATUS, ENVIRONMENT, …) in
/// no-fill mode, so that its tables keep their columns.
fn render(command: &Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if command.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    let after = command
        .get_after_long_help()
        .or(command.get_after_help())
        .map(|text| text.to_string())
        .unwrap_or_default();
    out.write_all(sections(&after).as_bytes())?;
    if command.get_version().is_some() {
        man.render_version_section(out)?;
    }
    Ok(())
}

/// The help's closing text as roff sections: a line at the margin ending
/// in `:` opens one, named by its words before any parenthesis.
fn sections(text: &str) -> String {
    let mut roff = String::new();
    for line in text.lines() {
        match section_name(line) {
            Some(name) => {
                if !roff.is_empty() {
                    roff.push_str(".fi\n");
                }
                roff.push_str(&format!(".SH \"{name}\"\n.nf\n"));
                if line.contains('(') {
                    roff.push_str(&escaped(line));
                    roff.push('\n');
                }
            }
            None if roff.is_empty() && line.trim().is_empty() => {}
            None => {
                if roff.is_empty() {
                    roff.push_str(".SH NOTES\n.nf\n");
                }
                roff.push_str(&escaped(line));
                roff.push('\n');
            }
        }
    }
    if !roff.is_empty() {
        roff.push_str(".fi\n");
    }
    roff
}

/// `Exit codes:` → `EXIT STATUS` (the manual's own name for it), `Report
/// columns (one row…):` → `REPORT COLUMNS`; `None` for any other line.
fn section_name(line: &str) -> Option<String> {
    let heading = line.strip_suffix(':')?;
    if heading.starts_with(char::is_whitespace) || heading.is_empty() {
        return None;
    }
    let words = heading.split(" (").next().unwrap_or(heading).trim();
    if words.split(' ').count() > 3 {
        return None;
    }
    Some(match words {
        "Exit codes" => "EXIT STATUS".to_string(),
        other => other.to_uppercase(),
    })
}

/// A line as roff prints it verbatim: backslashes and dashes escaped, and
/// a leading dot or quote not taken for a request.
fn escaped(line: &str) -> String {
    let text = line.replace('\\', "\\e").replace('-', "\\-");
    match text.starts_with(['.', '\'']) {
        true => format!("\\&{text}"),
        false => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        write_pages(dir.path()).unwrap();
        for page in [
            "cosinv.1",
            "cosinv-apply.1",
            "cosinv-emulate.1",
            "cosinv-show.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.contains(".TH"), "{page}");
        }
    }

    #[test]
    fn the_help_after_the_options_becomes_sections_with_tables_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        write_pages(dir.path()).unwrap();
        let page = std::fs::read_to_string(dir.path().join("cosinv-apply.1")).unwrap();
        for section in ["EXAMPLES", "EXIT STATUS", "ENVIRONMENT", "REPORT COLUMNS"] {
            assert!(
                page.contains(&format!(".SH \"{section}\"\n.nf\n")),
                "{section}\n{page}"
            );
        }
        assert!(!page.contains(".SH EXTRA"), "{page}");
        // Each exit code starts a line of its own, as in --help.
        assert!(page.lines().any(|line| line.starts_with("  0 ")), "{page}");
        assert!(
            page.lines().any(|line| line.starts_with("  130/143 ")),
            "{page}"
        );
        assert_eq!(page.matches(".nf\n").count(), page.matches(".fi\n").count());
    }

    #[test]
    fn roff_requests_and_escapes_in_help_text_are_printed_not_obeyed() {
        assert_eq!(escaped(".hidden"), "\\&.hidden");
        assert_eq!(escaped("a\\b --flag"), "a\\eb \\-\\-flag");
        assert_eq!(section_name("Exit codes:"), Some("EXIT STATUS".into()));
        assert_eq!(
            section_name("Report columns (one row per job, written as each job ends):"),
            Some("REPORT COLUMNS".into())
        );
        assert_eq!(section_name("  applied    COS accepted it:"), None);
        assert_eq!(
            section_name("Beside it, the sidecar records the run, as follows:"),
            None
        );
    }
}
