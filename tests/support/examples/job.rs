//! Running a script as a Windmill worker runs a bash step.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{TOKEN, WS};
use crate::support::Outcome;

pub struct Job {
    /// The job's directory, where Windmill looks for `result.json`.
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    path: Vec<PathBuf>,
}

impl Job {
    /// A job environment for `base_url` (the job's `BASE_INTERNAL_URL`).
    /// `WM_BASE_URL`, the public URL, points nowhere: the tool must use the
    /// internal one.
    pub fn new(base_url: &str) -> Job {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join(".home");
        std::fs::create_dir(&home).expect("create HOME");
        let env = [
            ("HOME", home.to_string_lossy().as_ref()),
            ("TMPDIR", std::env::temp_dir().to_string_lossy().as_ref()),
            ("WM_TOKEN", TOKEN),
            ("WM_WORKSPACE", WS),
            ("WM_BASE_URL", "http://127.0.0.1:9/"),
            ("BASE_INTERNAL_URL", base_url),
            ("WM_JOB_ID", "0192e1c4-5f4a-7d3e-9b1a-2c3d4e5f6a7b"),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        Job {
            dir,
            env,
            path: Vec::new(),
        }
    }

    pub fn without(mut self, key: &str) -> Job {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Puts `dir` on `PATH`, before the test's own `PATH` and after any
    /// directory added earlier.
    pub fn path(mut self, dir: &Path) -> Job {
        self.path.push(dir.to_owned());
        self
    }

    pub fn result(&self) -> Option<Value> {
        let path = self.dir.path().join("result.json");
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("result.json is JSON"))
    }

    /// `bash SCRIPT ARGS...` in the job's directory, stdin closed.
    pub fn run(&self, script: &Path, args: &[&str]) -> Outcome {
        let mut path: Vec<String> = (self.path.iter())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        path.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()));
        let mut env = self.env.clone();
        env.push(("PATH".to_owned(), path.join(":")));
        let mut argv = vec![script.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let command = format!("bash {}", argv.join(" "));
        let started = Instant::now();
        let handle = duct::cmd("bash", &argv)
            .dir(self.dir.path())
            .full_env(env)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .start()
            .unwrap_or_else(|e| panic!("start {command}: {e}"));
        let finished = handle
            .wait_timeout(Duration::from_secs(300))
            .expect("wait for bash")
            .is_some();
        if !finished {
            let _ = handle.kill();
        }
        let output = handle.into_output().expect("collect bash's output");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let outcome = Outcome {
            code: output.status.code().unwrap_or(-1),
            json: (stdout.lines().last())
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            duration: started.elapsed(),
            command,
        };
        assert!(finished, "timed out\n{}", outcome.dump());
        outcome
    }
}
