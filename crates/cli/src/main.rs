fn main() -> std::process::ExitCode {
    lisens_cli::main()
}
