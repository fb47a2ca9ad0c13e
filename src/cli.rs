//! Command-line flags (SPEC 1).

use std::path::PathBuf;

use clap::{ArgAction, Parser};

const AFTER_HELP: &str = "\
The config is one JSON object (see the README for every key). Secrets belong
in it (or in files named by the `*_file` keys), never on the command line.

Exit codes:
  0    pushed, no changes, dry run, or check passed
  1    internal error (a bug)
  2    invalid invocation or config; nothing was run
  3    Windmill: the pull failed (auth, unreachable, unknown workspace, timeout)
  4    git: clone, fetch, commit, auth or push failure
  5    push rejected: the branch kept moving through every attempt
  6    guard: mass deletion or a credential in what would be committed
  7    locked: another run holds the work_dir lock
  130  interrupted by SIGINT; 143 by SIGTERM

stdout carries exactly one line of JSON describing the outcome; logs go to stderr.";

/// Back up a Windmill workspace to a Git remote: wmill sync pull, commit, push.
#[derive(Debug, Parser)]
#[command(name = "windmill-git-sync", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Read the config from PATH, or from stdin with `-` (the default when
    /// stdin is not a terminal).
    #[arg(long, value_name = "PATH|-")]
    pub config: Option<String>,

    /// Pull and compare, report what would change and what the guards say;
    /// commit nothing, push nothing, leave work_dir as it is.
    #[arg(long)]
    pub dry_run: bool,

    /// Validate the config and check that Windmill and the git remote both
    /// accept this config's credentials; change nothing.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,

    /// Also write the result JSON to PATH (e.g. ./result.json in a Windmill job).
    #[arg(long, value_name = "PATH")]
    pub result_file: Option<PathBuf>,

    /// More logging on stderr: -v debug (every child process), -vv trace.
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only warnings and errors on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

impl Cli {
    /// The level the flags ask for, or `None` to honour `RUST_LOG`.
    pub fn level(&self) -> Option<log::LevelFilter> {
        match (self.quiet, self.verbose) {
            (true, _) => Some(log::LevelFilter::Warn),
            (false, 0) => None,
            (false, 1) => Some(log::LevelFilter::Debug),
            (false, _) => Some(log::LevelFilter::Trace),
        }
    }
}
