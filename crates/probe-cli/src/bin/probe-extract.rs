use clap::Parser;

fn main() -> std::process::ExitCode {
    probe_cli::output::pin_thread_count();
    let args = probe_cli::extract::ExtractArgs::parse();
    probe_cli::output::exit_code(probe_cli::extract::run(&args))
}
