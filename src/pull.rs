//! The pull step: `wmill sync pull` into the place, retried with backoff,
//! and split into batches for a first import of a large workspace, whose
//! single pull would take hours (WMILL.md section 10).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Failure, Kind, ResultExt};
use crate::place;
use crate::process::{NotStarted, TimedOut};
use crate::signals;
use crate::sync::wmill_for;
use crate::wmill::{self, PullError, Wmill};
use crate::workdir::Private;

/// Tries per wmill call (SPEC 8).
const ATTEMPTS: u32 = 3;

/// A first import with more files than this is split into batches.
const BATCH_ABOVE: usize = 600;

/// Files a batch aims at: wmill's lock step grows with the square of the
/// items one call adds, while every call pays for the whole download.
const BATCH_FILES: usize = 600;

pub struct Pull<'a> {
    wmill: Wmill,
    dir: PathBuf,
    base: String,
    workspace: String,
    batchable: bool,
    /// The most tries any one wmill call needed.
    pub attempts: u32,
    _private: &'a Private,
}

impl<'a> Pull<'a> {
    pub fn new(cfg: &Config, private: &'a Private, dir: &Path) -> Pull<'a> {
        Pull {
            wmill: wmill_for(cfg, private),
            dir: dir.to_path_buf(),
            base: cfg.windmill_base_url.as_str().to_string(),
            workspace: cfg.workspace.clone(),
            // Batches are made with --includes, which would replace the
            // configured includes.
            batchable: cfg.scope.includes.is_empty(),
            attempts: 0,
            _private: private,
        }
    }

    /// Pulls the workspace into the place. `empty` says the place holds no
    /// snapshot yet, which is when a large workspace is imported in batches.
    pub fn run(&mut self, empty: bool) -> Result<(), Failure> {
        let started = Instant::now();
        if empty && self.batchable {
            let batches = self.plan()?;
            let total = batches.len();
            for (i, batch) in batches.iter().enumerate() {
                log::info!(
                    "first import, batch {} of {total}: {} ({} files)",
                    i + 1,
                    summarise(&batch.prefixes),
                    batch.files
                );
                self.remove_lock()?;
                let includes = batch
                    .prefixes
                    .iter()
                    .map(|p| format!("{p}/**"))
                    .collect::<Vec<_>>()
                    .join(",");
                self.call(&["--includes".to_string(), includes])?;
            }
        }
        // One full pull: the rest of the workspace, deletions, and the whole
        // wmill-lock.yaml rebuilt in one go (it is removed first).
        self.remove_lock()?;
        self.call(&[])?;
        log::info!(
            "pulled workspace {} in {} ms",
            self.workspace,
            started.elapsed().as_millis()
        );
        Ok(())
    }

    fn remove_lock(&self) -> Result<(), Failure> {
        let lock = self.dir.join(place::LOCK_YAML);
        match fs::remove_file(&lock) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Failure::new(
                Kind::Git,
                format!("removing {}: {e}", lock.display()),
            )),
        }
    }

    /// Lists what a pull would add (`--dry-run --json-output`) and groups it
    /// by item folder (`f/<folder>`, `u/<user>`, `g/<group>`) into batches.
    /// One try only: when it fails, the full pull that follows reports the
    /// failure properly (`--json-output` mutes wmill's error messages).
    fn plan(&mut self) -> Result<Vec<Batch>, Failure> {
        let started = Instant::now();
        let out = match self.wmill.pull(&self.dir, true, &[]) {
            Ok(out) if out.success() => out.stdout,
            Ok(out) => {
                log::debug!(
                    "could not plan a batched import ({}); pulling in one go",
                    out.status_text()
                );
                return Ok(Vec::new());
            }
            Err(e)
                if e.downcast_ref::<NotStarted>().is_some()
                    || e.downcast_ref::<TimedOut>().is_some() =>
            {
                log::debug!("could not plan a batched import ({e}); pulling in one go");
                return Ok(Vec::new());
            }
            Err(e) => return Err(Failure::from_error(Kind::Windmill, e)),
        };
        let listing: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        let paths: Vec<&str> = listing
            .get("changes")
            .and_then(|c| c.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.get("path").and_then(|p| p.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let batches = batches(&paths);
        log::info!(
            "first import of {} files: {} batch(es) planned in {} ms",
            paths.len(),
            batches.len(),
            started.elapsed().as_millis()
        );
        Ok(batches)
    }

    /// One wmill call with retries.
    fn call(&mut self, extra: &[String]) -> Result<(), Failure> {
        for attempt in 1..=ATTEMPTS {
            self.attempts = self.attempts.max(attempt);
            if attempt > 1 {
                log::info!("pulling again (attempt {attempt} of {ATTEMPTS})");
            }
            let err = match self.wmill.pull(&self.dir, false, extra) {
                Ok(out) if out.success() => return Ok(()),
                Ok(out) => wmill::classify(&out, &self.base, &self.workspace),
                Err(e) if e.downcast_ref::<TimedOut>().is_some() => PullError {
                    message: format!("{e}"),
                    hint: "Windmill did not answer in time: check that the server is healthy, or raise `pull_timeout_secs` for a very large workspace".into(),
                    retry: true,
                },
                Err(e) if e.downcast_ref::<NotStarted>().is_some() => {
                    return Err(Failure::new(
                        Kind::Windmill,
                        format!("could not start wmill ({}): {}", self.wmill.program().display(), e.root_cause()),
                    )
                    .with_hint("install windmill-cli (npm install -g windmill-cli@<the server's version>) or set `wmill_path`"));
                }
                Err(e) => return Err(Failure::from_error(Kind::Windmill, e)),
            };
            if !err.retry || attempt == ATTEMPTS {
                return Err(Failure::new(Kind::Windmill, err.message).with_hint(err.hint));
            }
            let wait = Duration::from_secs(u64::from(attempt));
            log::warn!("{}; trying again in {} s", err.message, wait.as_secs());
            sleep(wait).kind(Kind::Windmill)?;
        }
        Err(Failure::new(
            Kind::Internal,
            "internal error: the pull loop ended without a result",
        ))
    }
}

/// A set of item folders pulled together.
#[derive(Debug, PartialEq, Eq)]
pub struct Batch {
    pub prefixes: Vec<String>,
    pub files: usize,
}

/// Groups paths by item folder and packs the folders, in order, into
/// batches of about [`BATCH_FILES`] files. Paths outside such folders are
/// left to the final full pull; small imports get no batches at all.
pub fn batches(paths: &[&str]) -> Vec<Batch> {
    if paths.len() <= BATCH_ABOVE {
        return Vec::new();
    }
    let mut folders: BTreeMap<String, usize> = BTreeMap::new();
    for path in paths {
        let mut parts = path.splitn(3, '/');
        if let (Some(top @ ("f" | "u" | "g")), Some(name), Some(_)) =
            (parts.next(), parts.next(), parts.next())
        {
            // A glob character in a folder name would widen --includes.
            if !name.contains(['*', '?', '[', ']', '{', '}', ',', '!']) {
                *folders.entry(format!("{top}/{name}")).or_default() += 1;
            }
        }
    }
    let mut out: Vec<Batch> = Vec::new();
    for (prefix, files) in folders {
        match out.last_mut() {
            Some(b) if b.files + files <= BATCH_FILES => {
                b.prefixes.push(prefix);
                b.files += files;
            }
            _ => out.push(Batch {
                prefixes: vec![prefix],
                files,
            }),
        }
    }
    out
}

fn summarise(prefixes: &[String]) -> String {
    match prefixes {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last} ({} folders)", prefixes.len()),
    }
}

/// Sleeps, waking early (with an error) on SIGINT/SIGTERM.
pub fn sleep(d: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        signals::check()?;
        std::thread::sleep(
            Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
        );
    }
    signals::check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_imports_are_not_batched() {
        assert!(batches(&["f/a/x.py"; 10]).is_empty());
    }

    #[test]
    fn folders_are_packed_in_order() {
        let mut paths = Vec::new();
        let names: Vec<String> = (0..5)
            .flat_map(|f| (0..250).map(move |i| format!("f/folder_{f}/s{i}.py")))
            .collect();
        paths.extend(names.iter().map(String::as_str));
        paths.push("pg.resource-type.yaml");
        paths.push("f/x*y/odd.py");
        let b = batches(&paths);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].prefixes, vec!["f/folder_0", "f/folder_1"]);
        assert_eq!(b[0].files, 500);
        assert_eq!(b[2].prefixes, vec!["f/folder_4"]);
    }
}
