//! Argv recording: a directory of `/bin/sh` shims that log every start and
//! then `exec` the real program.
//!
//! What the shims see, with their directory first on the tool's `PATH`:
//! - every program the tool starts by name through `PATH` (git, wmill);
//! - programs those children look up on `PATH`: `wmill` is a script with
//!   `#!/usr/bin/env node`, so a `node` shim records `node <main.js> sync
//!   pull ...`; node starts `git` by name (e.g. `git rev-parse`); git
//!   starts `GIT_ASKPASS`/credential helpers and `sh -c` commands by `PATH`.
//!
//! What they cannot see: git runs its own helpers (`git-remote-http`,
//! `git-upload-pack`, `git-http-backend`, sub-commands) from its exec path
//! (`git --exec-path`), and puts that directory first on the `PATH` of its
//! children, so programs started *by git* resolve to the real git first. A
//! shim named `git-remote-http` therefore records nothing; the credential
//! git hands to it travels by environment or askpass, which the `git`
//! record's argv and the askpass record show. Processes started by absolute
//! path (`/usr/bin/git`) bypass the shims too, so a test that expects a
//! record for a program proves the tool looked it up on `PATH`.
//!
//! A start can be held at a deterministic point with [`Shims::hold`]: the
//! shim records its argv, signals the test through a FIFO and waits on a
//! second FIFO until released.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::run::wmill_path;

/// A directory of recording shims, removed when dropped.
pub struct Shims {
    root: tempfile::TempDir,
    bin: PathBuf,
}

impl Shims {
    /// Shims for `programs`, each running the program of that name found on
    /// the current `PATH` (for `wmill`: the pinned [`wmill_path`]). A program
    /// that is not found gets a shim that records its start and exits 127.
    pub fn new(programs: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("shims: create a directory");
        for dir in ["bin", "log", "gates"] {
            std::fs::create_dir(root.path().join(dir)).expect("shims: create a subdirectory");
        }
        let date = find_on_path("date").expect("shims: `date` on PATH");
        let mv = find_on_path("mv").expect("shims: `mv` on PATH");
        for program in programs {
            assert!(
                !program.contains('/') && !program.is_empty(),
                "shims: bad program name {program:?}"
            );
            let real = if *program == "wmill" {
                Some(wmill_path())
            } else {
                find_on_path(program)
            };
            let script = shim_script(root.path(), program, real.as_deref(), &date, &mv);
            let path = root.path().join("bin").join(program);
            std::fs::write(&path, script)
                .unwrap_or_else(|e| panic!("shims: write {}: {e}", path.display()));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("shims: chmod {}: {e}", path.display()));
        }
        let bin = root.path().join("bin");
        Shims { root, bin }
    }

    /// The directory to put first on `PATH`.
    pub fn dir(&self) -> &Path {
        &self.bin
    }

    /// Every recorded start in start order: the program name, then its
    /// arguments (without argv[0]).
    pub fn records(&self) -> Vec<Vec<String>> {
        let log = self.root.path().join("log");
        let mut names: Vec<(u128, u32, PathBuf)> = std::fs::read_dir(&log)
            .unwrap_or_else(|e| panic!("shims: read {}: {e}", log.display()))
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let name = path.file_name()?.to_str()?.to_owned();
                let (nanos, pid) = name.split_once('-')?;
                Some((nanos.parse().ok()?, pid.parse().ok()?, path))
            })
            .collect();
        names.sort();
        (names.into_iter())
            .map(|(_, _, path)| {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("shims: read {}: {e}", path.display()));
                let mut fields: Vec<String> = (bytes.split(|b| *b == 0))
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                // Every field ends with a NUL, so the split leaves one empty tail.
                fields.pop();
                fields
            })
            .collect()
    }

    /// The argument lists of every start of `program`.
    pub fn records_of(&self, program: &str) -> Vec<Vec<String>> {
        (self.records().into_iter())
            .filter(|r| r.first().is_some_and(|p| p == program))
            .map(|mut r| r.split_off(1))
            .collect()
    }

    /// Holds starts of `program`, after recording them, while the returned
    /// gate exists: the first one announces itself to
    /// [`Gate::wait_reached`]; releasing or dropping the gate lets it go on
    /// and removes the gate, so later starts run freely.
    pub fn hold(&self, program: &str) -> Gate {
        let gates = self.root.path().join("gates");
        let gate = Gate {
            reached: gates.join(format!("{program}.reached")),
            wait: gates.join(format!("{program}.wait")),
        };
        for fifo in [&gate.reached, &gate.wait] {
            let _ = std::fs::remove_file(fifo);
            let out = duct::cmd("mkfifo", [fifo])
                .stderr_capture()
                .unchecked()
                .run()
                .unwrap_or_else(|e| panic!("shims: run mkfifo: {e}"));
            assert!(
                out.status.success(),
                "shims: mkfifo {}: {}",
                fifo.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        gate
    }
}

/// A held start of one shimmed program (see [`Shims::hold`]).
pub struct Gate {
    reached: PathBuf,
    wait: PathBuf,
}

impl Gate {
    /// Blocks until a start of the program has reached the gate, or
    /// `timeout` passed (false).
    pub fn wait_reached(&self, timeout: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        let reached = self.reached.clone();
        std::thread::spawn(move || {
            // Opening the FIFO for reading returns once the shim opens it
            // for writing; its line (the pid) follows.
            let mut line = String::new();
            let ok = std::fs::File::open(&reached)
                .and_then(|mut f| f.read_to_string(&mut line))
                .is_ok_and(|_| !line.is_empty());
            let _ = tx.send(ok);
        });
        match rx.recv_timeout(timeout) {
            Ok(ok) => ok,
            Err(_) => {
                // Free the reader thread: a writer end that opens and closes
                // lets its open return and its read see end of file.
                drop(
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&self.reached),
                );
                false
            }
        }
    }

    /// Lets the held start continue and removes the gate.
    pub fn release(self) {
        // Dropping does the work.
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // A shim waiting in (or opening) the wait FIFO counts as a reader,
        // so a non-blocking writer open succeeds exactly when one is there.
        let waiting = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.wait);
        if let Ok(mut fifo) = waiting {
            let _ = fifo.write_all(b"go\n");
        }
        // A shim still blocked announcing itself gets a reader that goes
        // away at once; it ignores the resulting EPIPE and finds no gate.
        drop(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.reached),
        );
        let _ = std::fs::remove_file(&self.reached);
        let _ = std::fs::remove_file(&self.wait);
    }
}

fn shim_script(root: &Path, program: &str, real: Option<&Path>, date: &Path, mv: &Path) -> String {
    let q = |p: &Path| quote(&p.to_string_lossy());
    let log = q(&root.join("log"));
    let reached = q(&root.join("gates").join(format!("{program}.reached")));
    let wait = q(&root.join("gates").join(format!("{program}.wait")));
    let run = match real {
        Some(real) => format!("exec {} \"$@\"", q(real)),
        None => format!(
            "echo {} >&2\nexit 127",
            quote(&format!("shim: {program}: not found on the original PATH"))
        ),
    };
    format!(
        r#"#!/bin/sh
# Recording shim for {program} (generated by the test support code).
rec={log}/"$({date} +%s%N)-$$"
printf '%s\0' {name} "$@" > "$rec.tmp" && {mv} -f "$rec.tmp" "$rec"
if [ -p {wait} ]; then
  trap '' PIPE
  {{ printf '%s\n' "$$" > {reached}; }} 2>/dev/null
  {{ read -r _go < {wait}; }} 2>/dev/null
  trap - PIPE
fi
{run}
"#,
        date = q(date),
        mv = q(mv),
        name = quote(program),
    )
}

/// Single-quotes `s` for `/bin/sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first executable regular file named `program` on the current `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
