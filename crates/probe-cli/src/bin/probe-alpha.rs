use clap::Parser;

fn main() -> std::process::ExitCode {
    probe_cli::output::pin_thread_count();
    let args = probe_cli::alpha::AlphaArgs::parse();
    probe_cli::output::exit_code(probe_cli::alpha::run(&args))
}
