//! Where a run works: private dirs for the children (HOME, wmill's config,
//! git's global config) and the checkout, either a fresh temporary one or
//! the persistent `work_dir`, locked for the whole run and repaired when an
//! earlier run was killed half-way.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::error::{Failure, Kind};
use crate::{signals, sys};

/// A marker inside `.git` saying the tool created this checkout, so that it
/// may repair or rebuild it. A non-empty directory without it is refused.
const MARKER: &str = "windmill-git-sync";

/// Git attributes that keep every file byte-exact both ways (no eol
/// conversion, filters or encodings), whatever the repo's `.gitattributes`.
const ATTRIBUTES: &str = "* -text -filter -ident -working-tree-encoding\n";

/// Private, empty directories the children use instead of the user's.
pub struct Private {
    _dir: TempDir,
    pub home: PathBuf,
    pub wmill_config: PathBuf,
    pub git_config: PathBuf,
}

impl Private {
    pub fn new() -> Result<Private> {
        let dir = tempfile::Builder::new()
            .prefix("windmill-git-sync-")
            .tempdir()
            .context("creating a private temporary directory")?;
        let home = dir.path().join("home");
        let wmill_config = dir.path().join("wmill-config");
        fs::create_dir(&home).context("creating the private HOME")?;
        fs::create_dir(&wmill_config).context("creating the private wmill config dir")?;
        let git_config = dir.path().join("gitconfig");
        fs::write(&git_config, "").context("creating the private git config")?;
        Ok(Private {
            _dir: dir,
            home,
            wmill_config,
            git_config,
        })
    }
}

/// The checkout a run works in; the lock (if any) is held until drop.
pub struct Checkout {
    pub path: PathBuf,
    pub persistent: bool,
    _temp: Option<TempDir>,
    _lock: Option<File>,
}

impl Checkout {
    /// A fresh temporary checkout directory (empty).
    pub fn temporary() -> Result<Checkout, Failure> {
        let temp = tempfile::Builder::new()
            .prefix("windmill-git-sync-checkout-")
            .tempdir()
            .map_err(|e| Failure::new(Kind::Git, format!("creating a temporary checkout: {e}")))?;
        Ok(Checkout {
            path: temp.path().to_path_buf(),
            persistent: false,
            _temp: Some(temp),
            _lock: None,
        })
    }

    /// The persistent `work_dir`, created if missing and locked.
    pub fn persistent(dir: &Path, lock_timeout: Duration) -> Result<Checkout, Failure> {
        fs::create_dir_all(dir).map_err(|e| {
            Failure::new(
                Kind::Config,
                format!("cannot create work_dir {}: {e}", dir.display()),
            )
            .with_hint("point `work_dir` at a directory this user can write")
        })?;
        let lock = lock(dir, lock_timeout)?;
        let checkout = Checkout {
            path: dir.to_path_buf(),
            persistent: true,
            _temp: None,
            _lock: Some(lock),
        };
        checkout.check_ownership()?;
        Ok(checkout)
    }

    /// A non-empty `work_dir` must be one this tool made: never wipe a
    /// user's directory by mistake.
    fn check_ownership(&self) -> Result<(), Failure> {
        let git = self.path.join(".git");
        if git.join(MARKER).is_file() {
            return Ok(());
        }
        let mut entries = fs::read_dir(&self.path).map_err(|e| {
            Failure::new(
                Kind::Config,
                format!("cannot read work_dir {}: {e}", self.path.display()),
            )
        })?;
        if entries.next().is_none() {
            return Ok(());
        }
        Err(Failure::new(
            Kind::Config,
            format!(
                "work_dir {} is not empty and was not created by windmill-git-sync",
                self.path.display()
            ),
        )
        .with_hint(
            "point `work_dir` at a new or empty directory; the tool keeps its own checkout there",
        ))
    }

    /// Marks the checkout as ours and pins its git attributes (idempotent).
    pub fn mark(&self) -> Result<()> {
        let git = self.path.join(".git");
        fs::create_dir_all(git.join("info")).context("creating .git/info")?;
        fs::write(git.join("info").join("attributes"), ATTRIBUTES)
            .context("writing .git/info/attributes")?;
        fs::write(
            git.join(MARKER),
            "This checkout belongs to windmill-git-sync.\n",
        )
        .context("marking the checkout")
    }

    /// Removes what a killed run can leave inside `.git`: lock files of
    /// git itself (we hold the run lock, so none is live) and our index.
    pub fn clear_stale_locks(&self) -> Result<usize> {
        let git = self.path.join(".git");
        let mut removed = 0;
        let mut stack = vec![git.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if is_dir {
                    // Objects hold no lock files worth a walk.
                    if path.file_name().is_some_and(|n| n != "objects") {
                        stack.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "lock")
                    || path
                        .file_name()
                        .is_some_and(|n| n == "windmill-git-sync.index")
                {
                    fs::remove_file(&path)
                        .with_context(|| format!("removing stale {}", path.display()))?;
                    log::info!(
                        "removed {} left by an interrupted run",
                        path.strip_prefix(&self.path).unwrap_or(&path).display()
                    );
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Empties the checkout (keeps the directory and the lock) so that the
    /// repository can be made again.
    pub fn wipe(&self) -> Result<()> {
        for entry in
            fs::read_dir(&self.path).with_context(|| format!("reading {}", self.path.display()))?
        {
            let path = entry?.path();
            let removed = if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.with_context(|| format!("removing {}", path.display()))?;
        }
        Ok(())
    }
}

/// Takes the exclusive lock on `dir`, waiting up to `timeout`.
fn lock(dir: &Path, timeout: Duration) -> Result<File, Failure> {
    let file = File::open(dir).map_err(|e| {
        Failure::new(
            Kind::Config,
            format!("cannot open work_dir {}: {e}", dir.display()),
        )
    })?;
    let started = Instant::now();
    let mut said = false;
    loop {
        match sys::try_lock_exclusive(&file) {
            Ok(true) => return Ok(file),
            Ok(false) => {}
            Err(e) => {
                return Err(Failure::new(
                    Kind::Locked,
                    format!("cannot lock work_dir {}: {e}", dir.display()),
                ));
            }
        }
        if let Err(e) = signals::check() {
            return Err(Failure::from_error(Kind::Locked, e));
        }
        if started.elapsed() >= timeout {
            return Err(Failure::new(
                Kind::Locked,
                format!(
                    "another run holds the lock on work_dir {} (waited {} s)",
                    dir.display(),
                    timeout.as_secs()
                ),
            )
            .with_hint("runs overlap: space the schedule out, or raise `lock_timeout_secs`"));
        }
        if !said {
            log::info!(
                "waiting up to {} s for another run to release {}",
                timeout.as_secs(),
                dir.display()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
