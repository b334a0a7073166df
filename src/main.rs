//! The `cosinv` command: everything it does is in [`cosinv::cmd`].

fn main() -> std::process::ExitCode {
    cosinv::cmd::main()
}
