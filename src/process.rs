//! Runs every child process: a clean environment, stdin closed, output
//! captured, its own process group, a deadline, and the whole group killed
//! on timeout, on a signal, or when this process dies.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::error::Interrupted;
use crate::secret::redact;
use crate::{signals, sys};

/// Environment variables passed through from our own environment to every
/// child (SPEC 4); everything else is dropped.
const PASS_THROUGH: &[&str] = &[
    "PATH",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
];

/// The environment every child starts from: the allowlist, a UTF-8 C locale
/// and a private, empty `HOME`.
pub fn base_env(home: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = PASS_THROUGH
        .iter()
        .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
        .collect();
    env.push(("LC_ALL".into(), "C.UTF-8".into()));
    env.push(("LANG".into(), "C.UTF-8".into()));
    env.push(("HOME".into(), home.as_os_str().to_owned()));
    env
}

/// One child to run.
pub struct Child {
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
}

/// What a child left behind once it exited by itself.
#[derive(Debug)]
pub struct Output {
    /// Exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The child's own words on failure: its stderr (or stdout when stderr
    /// is empty), trimmed, redacted, at most the last `lines` lines.
    pub fn complaint(&self, lines: usize) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let kept: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if kept.is_empty() {
            return "it printed nothing".to_string();
        }
        let start = kept.len().saturating_sub(lines);
        redact(&kept[start..].join(" | "))
    }

    pub fn status_text(&self) -> String {
        match self.code {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        }
    }
}

/// The child was still running at its deadline; its group was killed.
#[derive(Debug)]
pub struct TimedOut {
    pub label: String,
    pub secs: u64,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} timed out after {} s", self.label, self.secs)
    }
}

impl std::error::Error for TimedOut {}

/// The program could not be started at all (missing, not executable).
#[derive(Debug)]
pub struct NotStarted {
    pub program: PathBuf,
}

impl fmt::Display for NotStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not start {}", self.program.display())
    }
}

impl std::error::Error for NotStarted {}

const POLL: Duration = Duration::from_millis(25);

impl Child {
    /// Runs the child to completion. A non-zero exit is not an error here:
    /// callers read the status and decide.
    pub fn run(&self) -> Result<Output> {
        signals::check()?;
        let shown_args: Vec<String> = self
            .args
            .iter()
            .map(|a| redact(&a.to_string_lossy()))
            .collect();
        log::debug!(
            "run {} {} (cwd {})",
            self.program.display(),
            shown_args.join(" "),
            self.cwd.display()
        );
        let started = Instant::now();
        let mut expr = duct::cmd(self.program.as_os_str(), &self.args)
            .dir(&self.cwd)
            .full_env(self.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .before_spawn(|cmd| {
                sys::isolate(cmd);
                Ok(())
            });
        expr = match &self.stdin {
            Some(bytes) => expr.stdin_bytes(bytes.clone()),
            None => expr.stdin_null(),
        };
        let handle = expr
            .start()
            .map_err(anyhow::Error::from)
            .context(NotStarted {
                program: self.program.clone(),
            })?;
        let pids = handle.pids();
        let deadline = started + self.timeout;
        let finished = loop {
            if let Some(sig) = signals::pending() {
                pids.iter().for_each(|p| sys::kill_group(*p));
                let _ = handle.wait();
                return Err(Interrupted(sig))
                    .with_context(|| format!("{} was stopped", self.label));
            }
            let now = Instant::now();
            if now >= deadline {
                pids.iter().for_each(|p| sys::kill_group(*p));
                // Reaped only to release the pipes; the outcome is the timeout.
                let _ = handle.wait();
                log::debug!("{} timed out after {:?}", self.label, self.timeout);
                return Err(TimedOut {
                    label: self.label.clone(),
                    secs: self.timeout.as_secs(),
                }
                .into());
            }
            match handle.wait_timeout(POLL.min(deadline - now)) {
                Ok(Some(out)) => break out.clone(),
                Ok(None) => continue,
                Err(e) => {
                    pids.iter().for_each(|p| sys::kill_group(*p));
                    return Err(e).with_context(|| format!("waiting for {}", self.label));
                }
            }
        };
        // The child is gone; anything it left in its group goes too.
        pids.iter().for_each(|p| sys::kill_group(*p));
        let output = Output {
            code: finished.status.code(),
            stdout: strip_ansi(&String::from_utf8_lossy(&finished.stdout)),
            stderr: strip_ansi(&String::from_utf8_lossy(&finished.stderr)),
        };
        log::debug!(
            "{}: {} in {} ms",
            self.label,
            output.status_text(),
            started.elapsed().as_millis()
        );
        if log::log_enabled!(log::Level::Trace) {
            for line in output.stdout.lines().chain(output.stderr.lines()).take(200) {
                log::trace!("  {}", redact(line));
            }
        }
        Ok(output)
    }
}

/// Removes ANSI escape sequences (wmill colours its output unconditionally).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte.
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() || n == '~' {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[34m\u{1b}[32m+ script\u{1b}[39m\u{1b}[1m x\u{1b}[22m"),
            "+ script x"
        );
    }

    fn sh(script: &str, timeout: Duration) -> Child {
        Child {
            label: "sh".into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![],
            stdin: None,
            timeout,
        }
    }

    #[test]
    fn captures_status_and_output() {
        let out = sh("echo out; echo err >&2; exit 3", Duration::from_secs(10)).run();
        let out = out.map_err(|e| e.to_string());
        let out = out
            .as_ref()
            .map(|o| (o.code, o.stdout.as_str(), o.stderr.as_str()));
        assert_eq!(out, Ok((Some(3), "out\n", "err\n")));
    }

    #[test]
    fn environment_is_only_what_was_given() {
        let mut c = sh("echo \"[$HOME][$SECRETISH]\"", Duration::from_secs(10));
        c.env = vec![("HOME".into(), "/h".into())];
        let out = c.run().map(|o| o.stdout).map_err(|e| e.to_string());
        assert_eq!(out, Ok("[/h][]\n".to_string()));
    }

    #[test]
    fn deadline_kills_the_whole_group() {
        // The grandchild holds stdout open; only a group kill ends it.
        let started = Instant::now();
        let err = sh("sleep 30 & sleep 30", Duration::from_millis(300)).run();
        let err = err.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("sh timed out after 0 s"));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn missing_program_is_not_started() {
        let mut c = sh("", Duration::from_secs(1));
        c.program = "/nonexistent/prog".into();
        let err = c
            .run()
            .err()
            .map(|e| e.downcast_ref::<NotStarted>().is_some());
        assert_eq!(err, Some(true));
    }
}
