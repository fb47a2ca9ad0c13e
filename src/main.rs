//! windmill-git-sync: back up a Windmill workspace to a Git remote.
//!
//! `main` only wires: flags, logging, signals, one `app` call, and the
//! result line with its exit code.

mod check;
mod cli;
mod config;
mod error;
mod git;
mod glob;
mod guards;
mod logging;
mod place;
mod process;
mod pull;
mod report;
mod secret;
mod signals;
mod sync;
mod sys;
mod url;
mod wmill;
mod workdir;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use crate::cli::Cli;
use crate::error::{Failure, Kind};
use crate::report::Report;

fn main() -> ExitCode {
    if std::env::var_os(git::ASKPASS_FLAG).is_some() {
        return askpass();
    }
    let started = Instant::now();
    let mut report = Report::new();
    let (outcome, result_file) = match Cli::try_parse() {
        Ok(cli) => {
            logging::init(cli.level());
            signals::install();
            report_panics(started, cli.result_file.clone());
            (app(&cli, &mut report), cli.result_file.clone())
        }
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            let text = e.kind().to_string();
            let failure = Failure::new(Kind::Config, format!("invalid invocation: {text}"))
                .with_hint("run `windmill-git-sync --help` for the flags");
            (Err(failure), None)
        }
    };
    let code = match outcome {
        Ok(()) => 0,
        Err(failure) => {
            let failure = &internal_says_so(failure);
            log::error!("{}", failure.message);
            if let Some(hint) = &failure.hint {
                log::error!("hint: {hint}");
            }
            report.fail(failure);
            failure.kind.exit_code()
        }
    };
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (own, child) = sys::peak_rss_kib();
    log::debug!("peak RSS: self {own} KiB, largest child {child} KiB");
    emit(&report.to_line(), result_file.as_deref());
    ExitCode::from(code)
}

/// The result line: into `--result-file` (if given), then on stdout.
fn emit(line: &str, result_file: Option<&Path>) {
    if let Some(path) = result_file {
        if let Err(e) = write_result_file(path, line) {
            log::error!("could not write the result file {}: {e}", path.display());
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// An internal failure says that it is one (SPEC 8), and what to do.
fn internal_says_so(mut f: Failure) -> Failure {
    if f.kind == Kind::Internal && !f.message.starts_with("internal error") {
        f.message = format!("{INTERNAL}: {}", f.message);
        f.hint.get_or_insert_with(|| INTERNAL_HINT.to_string());
    }
    f
}

const INTERNAL: &str = "internal error (a bug in windmill-git-sync, or a broken environment)";
const INTERNAL_HINT: &str = "check that TMPDIR names a writable directory; otherwise \
    report it with the log of a run at -v (tokens are redacted there)";

/// A panic is a bug: it still ends with the one result line and exit 1,
/// never with a bare abort. The process exits from the hook, since the
/// release build aborts on panic; children die with it (parent-death signal).
fn report_panics(started: Instant, result_file: Option<std::path::PathBuf>) {
    std::panic::set_hook(Box::new(move |info| {
        let mut report = Report::new();
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        let place = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        let failure = Failure::new(
            Kind::Internal,
            format!("{INTERNAL}: panicked{place}: {}", what.replace('\n', " ")),
        )
        .with_hint(INTERNAL_HINT);
        log::error!("{}", failure.message);
        report.fail(&failure);
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        emit(&report.to_line(), result_file.as_deref());
        std::process::exit(1);
    }));
}

fn app(cli: &Cli, report: &mut Report) -> Result<(), Failure> {
    if let Some(path) = &cli.result_file {
        check_result_file(path)?;
    }
    let bytes = read_config(cli)?;
    let cwd = std::env::current_dir().map_err(|e| {
        Failure::new(
            Kind::Config,
            format!("cannot read the current directory: {e}"),
        )
    })?;
    let loaded = config::load(&bytes, &config::Env::from_process(), &cwd).map_err(|p| {
        Failure::new(Kind::Config, p.message())
            .with_hint("see the config table in the README; nothing was run")
    })?;
    let cfg = loaded.config;
    report.workspace = Some(cfg.workspace.clone());
    report.branch = Some(cfg.git_branch.clone());
    report.remote = Some(cfg.git_remote.to_string());
    for w in loaded.warnings {
        report.warn(w);
    }
    log::debug!("config: {cfg:?}");
    let opts = sync::Options {
        dry_run: cli.dry_run,
        check: cli.check,
    };
    sync::run(&cfg, opts, report)
}

fn read_config(cli: &Cli) -> Result<Vec<u8>, Failure> {
    let problem = |p: config::Problems| Failure::new(Kind::Config, p.message());
    match cli.config.as_deref() {
        Some("-") => config::read_limited(std::io::stdin().lock(), "stdin").map_err(problem),
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| {
                Failure::new(
                    Kind::Config,
                    format!("cannot open the config file {path}: {e}"),
                )
                .with_hint("give --config a readable file, or `-` to read stdin")
            })?;
            config::read_limited(file, path).map_err(problem)
        }
        None if sys::stdin_is_terminal() => Err(Failure::new(Kind::Config, "no config given")
            .with_hint(
                "pipe the config JSON on stdin (`... | windmill-git-sync`) or pass `--config FILE`",
            )),
        None => config::read_limited(std::io::stdin().lock(), "stdin").map_err(problem),
    }
}

fn check_result_file(path: &Path) -> Result<(), Failure> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() || path.is_dir() {
        return Err(Failure::new(
            Kind::Config,
            format!(
                "--result-file {}: its directory does not exist or it is a directory",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Writes the result next to its final name, then renames: a reader never
/// sees half a result.
fn write_result_file(path: &Path, line: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, format!("{line}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Answers git's username/password prompt from our own environment (git
/// runs this program as `GIT_ASKPASS`): the token never touches argv or disk.
fn askpass() -> ExitCode {
    let prompt = std::env::args().nth(1).unwrap_or_default();
    let key = if prompt.to_ascii_lowercase().starts_with("username") {
        git::ASKPASS_USER
    } else {
        git::ASKPASS_PASSWORD
    };
    match std::env::var(key) {
        Ok(value) => {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{value}").and_then(|()| out.flush()).is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(_) => ExitCode::FAILURE,
    }
}
