//! Running the tool and measuring its time and memory.

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::floor::file_url;
use crate::{progress, Env, TICK, TOKEN, WORKSPACE};

pub(crate) struct ToolRun {
    pub(crate) wall: Duration,
    pub(crate) status: String,
    /// The tool's own log of its pull time.
    pub(crate) pulled: Option<Duration>,
    /// The tool's own peak RSS in KiB: its log line, else sampled.
    pub(crate) self_kib: Option<u64>,
    /// The largest child's peak RSS in KiB: the tool's log line, else what
    /// `wait4` adds over the tool's own peak.
    pub(crate) child_kib: Option<u64>,
    pub(crate) stderr: String,
}

pub(crate) fn tool_config(
    base_url: &str,
    remote: &Path,
    work: Option<&Path>,
    wmill: &Path,
) -> String {
    let mut config = serde_json::json!({
        "windmill_token": TOKEN,
        "windmill_base_url": base_url,
        "workspace": WORKSPACE,
        "git_remote_url": file_url(remote),
        "wmill_path": wmill,
    });
    if let Some(work) = work {
        config["work_dir"] = serde_json::json!(work);
    }
    config.to_string()
}

/// Runs the release binary with the config on stdin and `-v`, and measures
/// its wall time and memory.
pub(crate) fn tool_run(
    env: &Env,
    base_url: &str,
    remote: &Path,
    work: Option<&Path>,
    label: &str,
) -> Result<ToolRun, String> {
    let config = tool_config(base_url, remote, work, &env.wmill);
    let mut cmd = Command::new(&env.tool);
    cmd.args(["--config", "-", "-v"])
        .env_clear()
        .env("PATH", &env.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(tmp) = std::env::var_os("TMPDIR") {
        cmd.env("TMPDIR", tmp);
    }
    let _ticker = Ticker::start(format!("{label}: ours"));
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("start the tool: {e}"))?;
    let pid = child.id();
    let sampler = Sampler::start(pid);
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    let prefix = label.to_string();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // The tool's own progress of a batched first import.
            if line.contains("batch") && line.contains(" INFO ") {
                progress(&format!("{prefix}: {}", line.trim()));
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut stdin = child.stdin.take().expect("stdin");
    // A tool that dies at once closes its stdin; its status tells why.
    let _ = stdin.write_all(config.as_bytes());
    drop(stdin);
    sys::wait_exited(pid).map_err(|e| format!("wait for the tool: {e}"))?;
    let wall = started.elapsed();
    let sampled = sampler.stop();
    let exit = sys::reap(pid).map_err(|e| format!("reap the tool: {e}"))?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();

    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_default();
    let status = result["status"].as_str().unwrap_or("").to_string();
    if exit.code != Some(0) {
        return Err(format!(
            "the tool failed ({}): {}\nstderr (last lines):\n{}",
            exit.code
                .map_or("killed by a signal".into(), |c| format!("exit {c}")),
            result["message"].as_str().unwrap_or("no result JSON"),
            tail(&stderr, 15)
        ));
    }
    let logged = peak_line(&stderr);
    let self_kib = logged.map(|(s, _)| s).or(sampled);
    let child_kib = logged.map(|(_, c)| c).or_else(|| {
        let own = sampled?;
        (exit.maxrss_kib > own).then_some(exit.maxrss_kib)
    });
    Ok(ToolRun {
        wall,
        status,
        pulled: pulled_ms(&stderr).map(Duration::from_millis),
        self_kib,
        child_kib,
        stderr,
    })
}

pub(crate) fn expect_status(run: &ToolRun, status: &str, label: &str) -> Result<(), String> {
    if run.status == status {
        return Ok(());
    }
    Err(format!(
        "{label}: the tool reported {:?}, expected {status:?}\nstderr (last lines):\n{}",
        run.status,
        tail(&run.stderr, 15)
    ))
}

/// The tool's pull time: the last `pulled ... in N ms` line.
pub(crate) fn pulled_ms(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .rev()
        .filter(|l| l.contains(" pulled "))
        .filter_map(|l| {
            let rest = l.trim_end().strip_suffix(" ms")?;
            let (_, number) = rest.rsplit_once(" in ")?;
            number.trim().parse().ok()
        })
        .next()
}

/// `peak RSS: self N KiB, largest child N KiB`.
pub(crate) fn peak_line(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("peak RSS: self "))?;
    let number = |after: &str| -> Option<u64> {
        let rest = line.split_once(after)?.1;
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((number("peak RSS: self ")?, number("largest child ")?))
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Samples `VmHWM` of one process every 10 ms, as a fallback for its own
/// peak RSS when the tool does not log it.
pub(crate) struct Sampler {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) peak: Arc<AtomicU64>,
    pub(crate) thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    pub(crate) fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            std::thread::spawn(move || {
                let file = format!("/proc/{pid}/status");
                while !stop.load(Ordering::SeqCst) {
                    if let Some(kib) = fs::read_to_string(&file).ok().and_then(|s| hwm(&s)) {
                        peak.fetch_max(kib, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Sampler { stop, peak, thread }
    }

    pub(crate) fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        Some(self.peak.load(Ordering::SeqCst)).filter(|k| *k > 0)
    }
}

pub(crate) fn hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Prints that a long step is still running, every [`TICK`].
pub(crate) struct Ticker {
    pub(crate) done: Option<mpsc::Sender<()>>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(label: String) -> Ticker {
        let (done, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(TICK) {
                progress(&format!(
                    "{label} still running ({} s)",
                    started.elapsed().as_secs()
                ));
            }
        });
        Ticker {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The waiting calls `std::process` does not offer: waiting for an exit
/// without reaping (so the sampler stops before the pid can be reused),
/// and reaping with the resource usage.
// The only unsafe code of the benchmark: two libc calls.
#[allow(unsafe_code)]
pub(crate) mod sys {
    use std::io;

    pub struct Exit {
        pub code: Option<i32>,
        /// `ru_maxrss` of the reaped process: the larger of its own peak
        /// and that of the largest child it waited for (Linux, KiB).
        pub maxrss_kib: u64,
    }

    pub fn wait_exited(pid: u32) -> io::Result<()> {
        let id = libc::id_t::from(pid);
        loop {
            // SAFETY: waitid only writes into the zeroed siginfo we own.
            let rc = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT)
            };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    pub fn reap(pid: u32) -> io::Result<Exit> {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        let mut status = 0;
        // SAFETY: wait4 only writes into the status and the zeroed rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc != pid {
            return Err(io::Error::last_os_error());
        }
        let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        Ok(Exit {
            code,
            maxrss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        })
    }
}
