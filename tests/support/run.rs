//! Running the tool under test, and the pinned `wmill`, in a known
//! environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest a single run of the tool or of wmill may take in a test.
pub const SAFETY_TIMEOUT: Duration = Duration::from_secs(300);

/// The pinned wmill installed from `tests/wmill/package.json`. Panics when
/// it is missing; there is deliberately no fallback to `PATH`.
pub fn wmill_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wmill/node_modules/.bin/wmill");
    assert!(
        path.is_file(),
        "{} is missing: run `npm ci --prefix tests/wmill` (the README's test command does)",
        path.display()
    );
    path
}

/// The `version` of the installed `windmill-cli` package, read from its
/// package.json (no process, no network).
pub fn wmill_installed_version() -> String {
    wmill_path();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wmill/node_modules/windmill-cli/package.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("read {}: {e}", manifest.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", manifest.display()));
    json["version"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no version", manifest.display()))
        .to_owned()
}

/// How a finished process ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code, or 128 + signal number when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout parsed as JSON when it is exactly one line of JSON, else Null.
    pub json: serde_json::Value,
    pub duration: Duration,
    /// What ran, for failure messages (no secrets: they travel by env/stdin).
    pub command: String,
}

impl Outcome {
    /// Panics with the whole outcome when the exit code is not `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "expected exit code {code}, got {}\n{}",
            self.code,
            self.dump()
        );
        self
    }

    /// Command, exit code, duration, stdout and stderr, for a failure message.
    pub fn dump(&self) -> String {
        format!(
            "command: {}\nexit code: {}\nduration: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
            self.command, self.code, self.duration, self.stdout, self.stderr
        )
    }
}

/// A run of `windmill-git-sync` from an empty environment: `PATH` as the
/// test process has it, `HOME` and `TMPDIR` in a fresh temporary directory.
pub struct Tool {
    scratch: tempfile::TempDir,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    path_prepend: Vec<PathBuf>,
    stdin: Option<Vec<u8>>,
    cwd: Option<PathBuf>,
    timeout: Duration,
}

impl Default for Tool {
    fn default() -> Self {
        Tool::new()
    }
}

impl Tool {
    pub fn new() -> Self {
        let scratch = tempfile::tempdir().expect("create the tool's scratch directory");
        let (home, tmp) = (scratch.path().join("home"), scratch.path().join("tmp"));
        for dir in [&home, &tmp] {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        let mut env = BTreeMap::new();
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
        env.insert("PATH".to_owned(), path);
        env.insert("HOME".to_owned(), home.to_string_lossy().into_owned());
        env.insert("TMPDIR".to_owned(), tmp.to_string_lossy().into_owned());
        Tool {
            scratch,
            args: Vec::new(),
            env,
            path_prepend: Vec::new(),
            stdin: None,
            cwd: None,
            timeout: SAFETY_TIMEOUT,
        }
    }

    /// The run's private HOME.
    pub fn home(&self) -> PathBuf {
        self.scratch.path().join("home")
    }

    /// Sends `json` on stdin and passes `--config -`.
    pub fn config(self, json: serde_json::Value) -> Self {
        self.stdin_bytes(json.to_string().into_bytes())
    }

    /// Sends `bytes` on stdin as they are and passes `--config -`.
    pub fn stdin_bytes(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Puts `dir` in front of `PATH` (later calls go further in front).
    pub fn path_prepend(mut self, dir: &Path) -> Self {
        self.path_prepend.push(dir.to_owned());
        self
    }

    /// Working directory of the run (default: the scratch directory).
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// Replaces the safety timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the binary; stdin is closed unless `config`/`stdin_bytes` set it.
    /// Panics when the run outlives the timeout (after killing it).
    pub fn run(self) -> Outcome {
        let mut args = Vec::new();
        if self.stdin.is_some() {
            args.extend(["--config".to_owned(), "-".to_owned()]);
        }
        args.extend(self.args.iter().cloned());
        let mut env = self.env.clone();
        if !self.path_prepend.is_empty() {
            let mut parts: Vec<String> = (self.path_prepend.iter().rev())
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            parts.extend(env.get("PATH").cloned());
            env.insert("PATH".to_owned(), parts.join(":"));
        }
        let cwd = self
            .cwd
            .clone()
            .unwrap_or_else(|| self.scratch.path().to_owned());
        let bin = env!("CARGO_BIN_EXE_windmill-git-sync");
        let expression = duct::cmd(bin, &args).dir(cwd).full_env(env);
        let expression = match self.stdin {
            Some(bytes) => expression.stdin_bytes(bytes),
            None => expression.stdin_null(),
        };
        let command = format!("windmill-git-sync {}", args.join(" "));
        run_with_timeout(expression, command, self.timeout)
    }
}

/// Runs the pinned wmill's `sync pull --yes <extra>` in `cwd` the way
/// WMILL.md recommends: empty environment plus PATH, private HOME and
/// config dir, `LC_ALL=C.UTF-8`, credentials in `WM_TOKEN`/`WM_WORKSPACE`/
/// `BASE_URL`, stdin closed.
pub fn wmill_sync_pull(
    cwd: &Path,
    base_url: &str,
    token: &str,
    workspace: &str,
    extra: &[&str],
) -> Outcome {
    WmillPull::new(cwd, base_url, token, workspace)
        .args(extra)
        .run()
}

/// [`wmill_sync_pull`] with more control.
pub struct WmillPull {
    cwd: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
    path_prepend: Vec<PathBuf>,
}

impl WmillPull {
    pub fn new(cwd: &Path, base_url: &str, token: &str, workspace: &str) -> Self {
        let env = [
            ("WM_TOKEN", token),
            ("WM_WORKSPACE", workspace),
            ("BASE_URL", base_url),
        ];
        WmillPull {
            cwd: cwd.to_owned(),
            env: (env.iter())
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            args: ["sync", "pull", "--yes"].map(str::to_owned).to_vec(),
            path_prepend: Vec::new(),
        }
    }

    /// Arguments after `sync pull --yes`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Puts `dir` in front of `PATH` (for shims).
    pub fn path_prepend(mut self, dir: &Path) -> Self {
        self.path_prepend.push(dir.to_owned());
        self
    }

    pub fn run(self) -> Outcome {
        let scratch = tempfile::tempdir().expect("create wmill's scratch directory");
        let (home, config) = (scratch.path().join("home"), scratch.path().join("config"));
        for dir in [&home, &config] {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        let mut path: Vec<String> = (self.path_prepend.iter().rev())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        path.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()));
        let mut env = vec![
            ("PATH".to_owned(), path.join(":")),
            ("HOME".to_owned(), home.to_string_lossy().into_owned()),
            (
                "TMPDIR".to_owned(),
                scratch.path().to_string_lossy().into_owned(),
            ),
            ("LC_ALL".to_owned(), "C.UTF-8".to_owned()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            (
                "WMILL_CONFIG_DIR".to_owned(),
                config.to_string_lossy().into_owned(),
            ),
        ];
        env.extend(self.env);
        let expression = duct::cmd(wmill_path(), &self.args)
            .dir(&self.cwd)
            .full_env(env)
            .stdin_null();
        let command = format!("wmill {}", self.args.join(" "));
        run_with_timeout(expression, command, SAFETY_TIMEOUT)
    }
}

fn run_with_timeout(expression: duct::Expression, command: String, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let handle = expression
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .unwrap_or_else(|e| panic!("could not start {command}: {e}"));
    let finished = handle
        .wait_timeout(timeout)
        .unwrap_or_else(|e| panic!("wait for {command}: {e}"))
        .is_some();
    if !finished {
        // Killing the direct child is enough to end the wait; whatever it
        // started is its own business (the tool ends its process groups).
        let _ = handle.kill();
    }
    let output = handle
        .into_output()
        .unwrap_or_else(|e| panic!("collect the output of {command}: {e}"));
    let outcome = Outcome {
        code: exit_code(&output.status),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        json: serde_json::Value::Null,
        duration: started.elapsed(),
        command,
    };
    assert!(
        finished,
        "killed after the {timeout:?} safety timeout\n{}",
        outcome.dump()
    );
    let json = single_json_line(&outcome.stdout);
    Outcome { json, ..outcome }
}

fn single_json_line(stdout: &str) -> serde_json::Value {
    let trimmed = stdout.strip_suffix('\n').unwrap_or(stdout);
    if trimmed.is_empty() || trimmed.contains('\n') {
        return serde_json::Value::Null;
    }
    serde_json::from_str(trimmed).unwrap_or(serde_json::Value::Null)
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
