//! The `lisens` command line: the vendor's key and issuing commands, the
//! installation's license commands, the server, and the one-command demo.
//! Every failure prints `error[CODE]: message` on stderr and exits 1; usage
//! errors exit 2.

mod args;
mod commands;
mod config;
mod demo;
mod failure;
mod files;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use lisens_core::codes;

pub use args::Cli;
pub use failure::Failure;

use args::{Command, ConfigCommand};
use commands::ops::{audited, config_check, record_cli};
use commands::serve::Db;
use failure::{report, Outcome};
use files::read_public_keys;

/// `lisens ... | head`: when the reader goes away, printing fails with a
/// broken pipe, which `println!` turns into a panic. The output was wanted
/// only this far, so end quietly, as a command killed by SIGPIPE would,
/// instead of printing a panic; every other panic keeps its report.
fn quiet_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info);
    }));
}

pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let args: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(args) => args,
        Err(bad) => {
            return report(Failure::new(
                codes::ARGUMENT_NOT_UTF8,
                format!("{bad:?}: arguments must be UTF-8 text"),
            ))
        }
    };
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // A usage error: clap's explanation under a stable code, exit 2.
            let text = e.render().to_string();
            eprint!("error[USAGE]: {}", text.strip_prefix("error: ").unwrap_or(&text));
            return ExitCode::from(2);
        }
    };
    // What is printed from the command definitions needs no configuration.
    match cli.command {
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "lisens", &mut text);
            return print_bytes(&text);
        }
        Command::Man => {
            let mut text = Vec::new();
            return match clap_mangen::Man::new(Cli::command()).render(&mut text) {
                Ok(()) => print_bytes(&text),
                Err(e) => report(Failure::new(
                    codes::FILE_UNWRITABLE,
                    format!("the manual page: {e}"),
                )),
            };
        }
        _ => {}
    }
    // The one configuration: defaults < file < environment < flags.
    let loaded = match config::load(cli.config.as_deref()) {
        Ok(l) => l,
        Err(f) => return report(f),
    };
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return config_check(&loaded);
    }
    let mut config = match loaded.into_config() {
        Ok(c) => c,
        Err(f) => return report(f),
    };
    if let Some(d) = &cli.database {
        config.database = d.clone();
    }
    if !cli.pinned_keys.is_empty() {
        config.public_keys = cli.pinned_keys.clone();
    }
    if let Some(o) = cli.clock_offset_secs {
        config.clock_offset_secs = o;
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return report(Failure::new(codes::RUNTIME_ERROR, e.to_string())),
    };
    let database = config.database.clone();
    let audited = audited(&cli.command);
    match runtime.block_on(run(cli, config)) {
        Ok(()) => {
            if let Some(action) = audited {
                // The command's change is done; a failure to record it is
                // reported but does not undo it.
                if let Err(f) = runtime.block_on(record_cli(&database, &action, &args)) {
                    eprintln!(
                        "warning[{}]: the audit log was not written: {}",
                        f.code, f.message
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(f) => report(f),
    }
}

/// Writes generated text to stdout; a reader that stops early (`| head`)
/// is not an error.
fn print_bytes(text: &[u8]) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => report(Failure::new(codes::FILE_UNWRITABLE, format!("stdout: {e}"))),
    }
}

fn init_tracing(config: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // Colour only for a person at a terminal, never into journald or a file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // log_format = "json": one JSON object per line, for log collectors.
    let _ = if config.log_format == config::LogFormat::Json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn run(cli: Cli, config: config::Config) -> Outcome {
    lisens_store::clock::set_offset_secs(config.clock_offset_secs);
    let db = Db {
        url: config.database.clone(),
        pinned: read_public_keys(&config.public_keys)?,
    };
    match cli.command {
        Command::Demo(args) => demo::run(args, &config).await,
        Command::Serve(args) => commands::serve::serve(&db, args, &config).await,
        Command::Issuer(cmd) => commands::issuer::issuer(cmd, &config).await,
        Command::License(cmd) => commands::license::license(&db, cmd).await,
        Command::User(cmd) => commands::users::user(&db, cmd).await,
        Command::Token(cmd) => commands::users::token(&db, cmd).await,
        Command::Site(cmd) => commands::sites::site(&db, cmd).await,
        Command::Events(cmd) => commands::events::events(&db, cmd).await,
        Command::Metering(cmd) => commands::metering::metering(&db, cmd, &config.server.zone).await,
        Command::Config(ConfigCommand::Check) | Command::Completions { .. } | Command::Man => Ok(()),
        Command::Backup { out } => commands::ops::backup(&db, &config, out).await,
        Command::Restore { from, force } => commands::ops::restore(&config.database, &from, force).await,
        Command::Audit {
            since,
            actor,
            limit,
            json,
        } => commands::ops::audit(&db, since, actor, limit, json).await,
    }
}
