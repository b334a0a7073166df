//! `cosinv man`: the manual page (roff), from the same definition as
//! `--help`, on stdout or one file per command in a folder.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::args::{Cli, ManArgs};
use super::exit;

/// `cosinv man`.
pub fn run(args: &ManArgs) -> u8 {
    let written = match &args.out_dir {
        Some(dir) => write_pages(dir),
        None => {
            let mut stdout = std::io::stdout().lock();
            clap_mangen::Man::new(Cli::command())
                .render(&mut stdout)
                .and_then(|()| stdout.flush())
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

/// `cosinv.1`, `cosinv-apply.1`, … in `dir`.
fn write_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        write_pages(dir.path()).unwrap();
        for page in ["cosinv.1", "cosinv-apply.1", "cosinv-emulate.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.contains(".TH"), "{page}");
        }
    }
}
