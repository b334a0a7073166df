//! The `cosinv` command: parse arguments, run the library, exit with its code.

fn main() -> std::process::ExitCode {
    cosinv::cli::main()
}
