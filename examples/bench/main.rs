//! The benchmark: the release build of windmill-git-sync against generated
//! workspaces served by the test stand-in Windmill (not a real server), and
//! beside each measurement its floor, the same wmill and git work done
//! directly by this program in the best order. Run it with
//! `examples/bench.sh [--sizes 100,1000,5000] [--runs 3] [--only ...]`.
//!
//! Progress goes to stderr; stdout gets the machine and a markdown table.
//! A missed target is reported, never a failure: the exit status is 1 only
//! when a measurement could not be made (the tool or a floor step failed)
//! or when the tool pushed a tree other than the floor's.

// Setup failures of a benchmark are bugs in the benchmark: they panic.
#![allow(clippy::expect_used)]

mod floor;
mod history;
mod report;
mod size;
mod tool;
mod workspace;

// The test support code, shared with the tests: the benchmark uses a part.
#[allow(dead_code, unused_imports)]
#[path = "../../tests/support/git.rs"]
mod git;
#[allow(dead_code, unused_imports)]
#[path = "../../tests/support/windmill/mod.rs"]
mod windmill;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use floor::copy_dir;
use report::{breakdown, machine, table};
use size::Size;
use tool::tool_run;
use windmill::{WindmillStandIn, Workspace};

const TOKEN: &str = "bench-windmill-token";
const WORKSPACE: &str = "bench";
const BRANCH: &str = "main";
/// Scripts per generated folder.
const FOLDER_SIZE: usize = 100;
/// Folders the floor's first import pulls per `--includes` batch.
const FLOOR_BATCH_FOLDERS: usize = 2;
/// Earlier commits of the long-history remote.
const HISTORY: usize = 1000;
/// A long step says it is still running this often.
const TICK: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(about = "Benchmark windmill-git-sync against its floor (see examples/bench.sh)")]
struct Args {
    /// Workspace sizes: scripts, in folders of 100, plus a tenth as many
    /// flows, resources and variables each.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    sizes: Vec<usize>,
    /// Runs per measurement; the table shows the median.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Scenarios to run (default: all).
    #[arg(long, value_delimiter = ',', value_enum)]
    only: Vec<Scenario>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Scenario {
    /// First sync into an empty remote.
    First,
    /// Nothing changed since the last sync.
    Nochange,
    /// One script edited.
    Edit1,
    /// Fifty scripts edited.
    Edit50,
    /// One script deleted.
    Delete1,
    /// Fresh-checkout git cost with 1,000 earlier commits versus 1.
    History,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::First => "first sync",
            Scenario::Nochange => "no change",
            Scenario::Edit1 => "1 edited",
            Scenario::Edit50 => "50 edited",
            Scenario::Delete1 => "1 deleted",
            Scenario::History => "git time, 1,000 vs 1 earlier commits",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Persistent,
    Fresh,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Persistent => "persistent",
            Mode::Fresh => "fresh",
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let only: BTreeSet<Scenario> = if args.only.is_empty() {
        Scenario::value_variants().iter().copied().collect()
    } else {
        args.only.iter().copied().collect()
    };
    let runs = args.runs.max(1);
    let env = Env::locate();
    let machine = machine(&env);
    progress(&format!("machine: {machine}"));
    let wmill_yaml = env.calibrate();

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for &n in &args.sizes {
        let mut size = Size::new(&env, n, runs, &wmill_yaml);
        if let Err(e) = size.run(&only, &mut rows) {
            progress(&format!("N={n}: {e}"));
            errors.push(format!("N={n}: {e}"));
        }
    }

    // SPEC 5: what the tool pushes is what a plain pull writes.
    for row in rows.iter().filter(|r| r.differs) {
        errors.push(format!(
            "N={} {} {}: the tool's tree differs from the floor's",
            row.n,
            row.mode.label(),
            row.scenario.label()
        ));
    }

    let mut out = String::new();
    let _ = writeln!(out, "Machine: {machine}\n");
    out.push_str(&table(&rows, runs));
    out.push('\n');
    out.push_str(&breakdown(&rows));
    for e in &errors {
        let _ = writeln!(out, "\n**Failed**: {e}");
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn progress(msg: &str) {
    eprintln!("[bench] {msg}");
}

// ---------------------------------------------------------------------------
// The programs and their environments

struct Env {
    tool: PathBuf,
    wmill: PathBuf,
    path: String,
    /// Private HOME and wmill config dir of the floor's children.
    _private: tempfile::TempDir,
    home: PathBuf,
    wmill_config: PathBuf,
}

impl Env {
    fn locate() -> Env {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let installed = root.join("tests/wmill");
        let tool = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("windmill-git-sync")))
            .filter(|p| p.is_file())
            .expect("build the tool first: cargo build --release (examples/bench.sh does)");
        assert!(
            installed.join("node_modules/.bin/wmill").is_file(),
            "install the pinned wmill first: npm ci --prefix tests/wmill (examples/bench.sh does)"
        );
        let private = tempfile::tempdir().expect("temporary directory");
        // Private copies of both programs: a rebuild or an `npm ci` (the
        // test command runs one) during a long benchmark must not change or
        // remove them half-way through.
        let copy = private.path().join("windmill-git-sync");
        fs::copy(&tool, &copy).expect("copy the tool's binary");
        copy_dir(&installed, &private.path().join("wmill"));
        let wmill = private.path().join("wmill/node_modules/.bin/wmill");
        let home = private.path().join("home");
        let wmill_config = private.path().join("wmill-config");
        fs::create_dir(&home).expect("create the floor's HOME");
        fs::create_dir(&wmill_config).expect("create the floor's wmill config dir");
        Env {
            tool: copy,
            wmill,
            path: std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            _private: private,
            home,
            wmill_config,
        }
    }

    /// The environment of the floor's git calls: what the tool gives git.
    /// Automatic garbage collection is off, as in the tool: a commit of a
    /// first import leaves thousands of loose objects, and the `gc --auto`
    /// git would start in the background would still be writing into the
    /// checkout during the next measurement (or while it is removed).
    fn git_env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.base_env();
        env.extend([
            ("GIT_TERMINAL_PROMPT", "0".into()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
            ("GIT_CONFIG_COUNT", "2".into()),
            ("GIT_CONFIG_KEY_0", "gc.auto".into()),
            ("GIT_CONFIG_VALUE_0", "0".into()),
            ("GIT_CONFIG_KEY_1", "maintenance.auto".into()),
            ("GIT_CONFIG_VALUE_1", "false".into()),
            ("GIT_AUTHOR_NAME", "Bench".into()),
            ("GIT_AUTHOR_EMAIL", "bench@example.com".into()),
            ("GIT_COMMITTER_NAME", "Bench".into()),
            ("GIT_COMMITTER_EMAIL", "bench@example.com".into()),
        ]);
        env
    }

    /// The environment of the floor's wmill calls (WMILL.md section 0).
    fn wmill_env(&self, base_url: &str) -> Vec<(&'static str, String)> {
        let mut env = self.base_env();
        env.extend([
            (
                "WMILL_CONFIG_DIR",
                self.wmill_config.to_string_lossy().into_owned(),
            ),
            ("WM_TOKEN", TOKEN.into()),
            ("WM_WORKSPACE", WORKSPACE.into()),
            ("BASE_URL", base_url.into()),
        ]);
        env
    }

    fn base_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", self.path.clone()),
            ("HOME", self.home.to_string_lossy().into_owned()),
            ("LC_ALL", "C.UTF-8".into()),
            ("LANG", "C.UTF-8".into()),
        ]
    }

    /// Runs the tool once on a tiny workspace: proves it works before any
    /// long measurement, and returns the `wmill.yaml` it writes, which the
    /// floor then writes too (the trees must match).
    fn calibrate(&self) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut ws = Workspace::new();
        ws.folder("calibration")
            .script("f/calibration/hello", "bash", "echo hello\n");
        let standin = WindmillStandIn::start(TOKEN, WORKSPACE, ws);
        let remote = dir.path().join("calibration.git");
        git::init_bare(&remote);
        let run = tool_run(self, &standin.base_url(), &remote, None, "calibration")
            .unwrap_or_else(|e| panic!("the tool fails on a tiny workspace: {e}"));
        assert_eq!(run.status, "pushed", "calibration run: {}", run.stderr);
        git::git_bytes(&remote, &["show", "main:wmill.yaml"])
    }
}
