//! The only module with `unsafe`: process groups, the parent-death signal,
//! signalling a child's whole group and advisory file locks. Each function is
//! a thin wrapper over one libc call.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes a child the leader of its own process group and, on Linux, asks the
/// kernel to kill it when this process dies, so no child outlives the tool.
pub fn isolate(cmd: &mut Command) {
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs between fork and exec and only calls
        // async-signal-safe functions (prctl, getppid, _exit).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
}

/// Sends SIGKILL to the process group led by `pid`. A group that is already
/// gone is not an error.
pub fn kill_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a
    // process group, and the group id is the child's pid (see `isolate`).
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// Tries to take an exclusive advisory lock on `file` without blocking.
/// Returns `Ok(false)` when another process holds it. The lock goes away with
/// the file descriptor, so a lock left by a dead process never blocks.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: the descriptor is valid for the lifetime of `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Whether stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stdin().is_terminal()
}

/// Peak resident set size in KiB of this process and of the largest child
/// it has waited for.
///
/// Our own peak is `VmHWM`, the high-water mark of this program's memory
/// alone. `ru_maxrss` of `RUSAGE_SELF` is not: Linux carries over the
/// peak of the memory image `exec` replaced, so it would report the peak
/// of whatever started us. A child's `ru_maxrss` (in KiB on Linux) counts
/// that way too, which only ever adds our small peak to a larger one.
pub fn peak_rss_kib() -> (u64, u64) {
    let read = |who| {
        // SAFETY: getrusage only writes into the zeroed struct we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::getrusage(who, &mut usage) };
        if rc == 0 {
            u64::try_from(usage.ru_maxrss).unwrap_or(0)
        } else {
            0
        }
    };
    let own = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| high_water_kib(&status))
        .unwrap_or_else(|| read(libc::RUSAGE_SELF));
    (own, read(libc::RUSAGE_CHILDREN))
}

/// The `VmHWM:` line of a `/proc/<pid>/status` text, in KiB.
fn high_water_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
