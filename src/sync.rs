//! The ordered steps of one run: check out the branch's tip, pull the
//! workspace into its place, stage exactly the place, guard, commit, push
//! (rebuilding the commit when the branch moved).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::Config;
use crate::error::{Failure, Kind, ResultExt};
use crate::git::{Git, Identity, Push};
use crate::guards::{self, Candidate};
use crate::place::{self, Place};
use crate::pull::{sleep, Pull};
use crate::report::{Changes, Report};
use crate::signals;
use crate::wmill::Wmill;
use crate::workdir::{Checkout, Private};

/// Attempts for a push (SPEC 6).
const PUSH_ATTEMPTS: u32 = 3;

/// Most changed paths listed in a commit body.
const MAX_BODY_PATHS: usize = 200;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    pub check: bool,
}

/// Runs the whole pipeline; fills `report` as it goes.
pub fn run(cfg: &Config, opts: Options, report: &mut Report) -> Result<(), Failure> {
    let private = Private::new().kind(Kind::Internal)?;
    if opts.check {
        return crate::check::run(cfg, &private, report);
    }
    let checkout = if opts.dry_run || cfg.work_dir.is_none() {
        if opts.dry_run && cfg.work_dir.is_some() {
            log::info!("dry run: working in a temporary checkout, work_dir stays as it is");
        }
        Checkout::temporary()?
    } else {
        let dir = cfg.work_dir.clone().unwrap_or_default();
        Checkout::persistent(&dir, Duration::from_secs(cfg.lock_timeout_secs))?
    };
    let git = git_for(cfg, &checkout.path, &private).kind(Kind::Internal)?;
    let place = Place::new(&cfg.repo_subdir);
    let mut run = Run {
        cfg,
        opts,
        private: &private,
        checkout: &checkout,
        git: &git,
        place,
        report,
    };
    run.go()
}

/// A git adapter for `dir` with the config's identity and credentials.
pub fn git_for(cfg: &Config, dir: &Path, private: &Private) -> anyhow::Result<Git> {
    let identity = Identity {
        name: cfg.git_user_name.clone(),
        email: cfg.git_user_email.clone(),
    };
    let creds = match (&cfg.git_token, cfg.git_remote.is_http()) {
        (Some(token), true) => Some((cfg.git_username.as_str(), token)),
        _ => None,
    };
    Git::new(
        dir,
        &private.home,
        &private.git_config,
        creds,
        &identity,
        Duration::from_secs(cfg.git_timeout_secs),
    )
}

/// A wmill adapter with the config's Windmill settings.
pub fn wmill_for(cfg: &Config, private: &Private) -> Wmill {
    Wmill::new(
        &cfg.wmill_path,
        &cfg.windmill_token,
        &cfg.workspace,
        &cfg.windmill_base_url,
        &private.home,
        &private.wmill_config,
        Duration::from_secs(cfg.pull_timeout_secs),
    )
}

struct Run<'a> {
    cfg: &'a Config,
    opts: Options,
    private: &'a Private,
    checkout: &'a Checkout,
    git: &'a Git,
    place: Place,
    report: &'a mut Report,
}

/// The snapshot after the pull, against the base it was taken on.
struct Snapshot {
    tree: String,
    changes: Vec<(char, String)>,
}

impl Run<'_> {
    fn go(&mut self) -> Result<(), Failure> {
        let url = self.cfg.git_remote.as_str().to_string();
        let branch = self.cfg.git_branch.clone();

        let tip = self.prepare(&url, &branch)?;
        let before = self.content_count(tip.as_deref())?;
        let emptied = self.write_scope(before)?;
        self.pull(before == 0 || emptied)?;
        let snapshot = self.snapshot(tip.as_deref())?;
        self.guard(&snapshot, before)?;

        if self.opts.dry_run {
            let n = self.report.changes.total();
            self.report.commit = tip.clone();
            let msg = if n == 0 {
                "dry run: nothing would change".to_string()
            } else {
                format!("dry run: {n} change(s) would be committed and pushed to {branch}")
            };
            log::info!("{msg}");
            self.report.succeed("dry_run", msg);
            return Ok(());
        }
        if snapshot.changes.is_empty() {
            self.report.commit = tip.clone();
            let msg = match &tip {
                Some(sha) => format!("no changes: {branch} already holds this snapshot at {}", short(sha)),
                None => "no changes: the workspace is empty and the branch does not exist; nothing to back up".into(),
            };
            log::info!("{msg}");
            self.report.succeed("no_changes", msg);
            return Ok(());
        }
        self.commit_and_push(&url, &branch, tip, snapshot)
    }

    /// Makes the checkout a clean copy of the branch's tip (or an empty
    /// orphan when the branch is missing). Repairs a broken persistent
    /// checkout by rebuilding it once.
    /// Local git failures come back from `try_prepare` as `Internal`, so
    /// that they can be told from the remote's; past the one rebuild they
    /// are git failures like any other.
    fn prepare(&mut self, url: &str, branch: &str) -> Result<Option<String>, Failure> {
        let result = match self.try_prepare(url, branch) {
            Err(f) if self.checkout.persistent && f.kind == Kind::Internal => {
                log::warn!(
                    "work_dir {} is damaged ({}); rebuilding it",
                    self.checkout.path.display(),
                    f.message
                );
                self.checkout.wipe().kind(Kind::Git)?;
                self.try_prepare(url, branch)
            }
            other => other,
        };
        result.map_err(|mut f| {
            if f.kind == Kind::Internal {
                f.kind = Kind::Git;
            }
            f
        })
    }

    fn try_prepare(&mut self, url: &str, branch: &str) -> Result<Option<String>, Failure> {
        let started = Instant::now();
        // The marker goes first and `git init` always runs (it only fills in
        // what is missing), so a run killed half-way through creating the
        // repository leaves a checkout the next run still recognises.
        self.checkout.mark().kind(Kind::Internal)?;
        self.git.init().kind(Kind::Internal)?;
        self.checkout.clear_stale_locks().kind(Kind::Internal)?;
        // `git init` leaves a damaged repository as it is: make sure git can
        // open it before anything talks to the remote.
        self.git
            .run(&["rev-parse", "--git-dir"])
            .kind(Kind::Internal)?;
        let mut tip = self.git.remote_tip(url, branch).kind(Kind::Git)?;
        if let Some(sha) = tip.clone() {
            if !self.git.has_commit(&sha) {
                let fetched = self.git.fetch_tip(url, branch).kind(Kind::Git)?;
                tip = Some(fetched);
            }
        }
        self.git
            .reset_to(tip.as_deref(), branch)
            .kind(Kind::Internal)?;
        match &tip {
            Some(sha) => log::info!(
                "checked out {branch} at {} ({} ms)",
                short(sha),
                started.elapsed().as_millis()
            ),
            None => {
                log::info!("branch {branch} does not exist on the remote yet: it will be created")
            }
        }
        self.report.commit = tip.clone();
        Ok(tip)
    }

    fn place_dir(&self) -> PathBuf {
        self.checkout.path.join(self.place.subdir())
    }

    /// Content files of the place in the checked-out tip.
    fn content_count(&self, tip: Option<&str>) -> Result<usize, Failure> {
        if tip.is_none() {
            return Ok(0);
        }
        let tracked = self.git.tracked_paths().kind(Kind::Git)?;
        Ok(tracked.iter().filter(|p| self.place.is_content(p)).count())
    }

    /// Writes `<place>/wmill.yaml`; when the recorded scope differs, empties
    /// the place first, since wmill leaves files of kinds it stopped syncing.
    fn write_scope(&mut self, before: usize) -> Result<bool, Failure> {
        let dir = self.place_dir();
        fs::create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))
            .kind(Kind::Git)?;
        let yaml = place::wmill_yaml(&self.cfg.scope);
        let path = dir.join(place::WMILL_YAML);
        let recorded = fs::read_to_string(&path).ok();
        let rescope = before > 0 && recorded.as_deref() != Some(yaml.as_str());
        if rescope {
            log::info!("the backup's scope changed (wmill.yaml): pulling the place afresh");
            let tracked = self.git.tracked_paths().kind(Kind::Git)?;
            for p in tracked.iter().filter(|p| self.place.owns(p)) {
                let file = self.checkout.path.join(p);
                fs::remove_file(&file)
                    .with_context(|| format!("emptying the place: removing {}", file.display()))
                    .kind(Kind::Git)?;
            }
        }
        fs::write(&path, yaml)
            .with_context(|| format!("writing {}", path.display()))
            .kind(Kind::Git)?;
        Ok(rescope)
    }

    fn pull(&mut self, empty: bool) -> Result<(), Failure> {
        let mut pull = Pull::new(self.cfg, self.private, &self.place_dir());
        let result = pull.run(empty);
        self.report.attempts.pull = pull.attempts;
        result
    }

    /// Stages exactly the place and diffs it against the tip.
    fn snapshot(&mut self, tip: Option<&str>) -> Result<Snapshot, Failure> {
        let changed = self.git.changed_paths().kind(Kind::Git)?;
        let (owned, stray): (Vec<String>, Vec<String>) =
            changed.into_iter().partition(|p| self.place.owns(p));
        for p in stray.iter().take(10) {
            self.report.warn(format!(
                "wmill wrote {p}, outside the workspace's place; it is not committed"
            ));
        }
        self.git.stage(&owned).kind(Kind::Git)?;
        let tree = self.git.write_tree().kind(Kind::Git)?;
        let base = match tip {
            Some(sha) => self.git.tree_of(sha).kind(Kind::Git)?,
            None => self.git.empty_tree().kind(Kind::Git)?,
        };
        let changes = self.content_changes(&base, &tree)?;
        self.report.changes = Changes::from_list(&changes);
        let c = &self.report.changes;
        log::info!(
            "changes: {} added, {} modified, {} deleted",
            c.added,
            c.modified,
            c.deleted
        );
        Ok(Snapshot { tree, changes })
    }

    fn content_changes(&self, from: &str, to: &str) -> Result<Vec<(char, String)>, Failure> {
        Ok(self
            .git
            .diff_trees(from, to)
            .kind(Kind::Git)?
            .into_iter()
            .filter(|c| self.place.is_content(&c.path))
            .map(|c| (c.status, c.path))
            .collect())
    }

    fn guard(&mut self, snapshot: &Snapshot, before: usize) -> Result<(), Failure> {
        let candidate = Candidate {
            root: &self.checkout.path,
            subdir: self.place.subdir(),
            changes: &snapshot.changes,
            before,
        };
        for warning in guards::check(self.cfg, &candidate, self.opts.dry_run)? {
            self.report.warn(warning);
        }
        Ok(())
    }

    fn commit_and_push(
        &mut self,
        url: &str,
        branch: &str,
        tip: Option<String>,
        snapshot: Snapshot,
    ) -> Result<(), Failure> {
        let mut base = tip;
        let mut tree = snapshot.tree.clone();
        let mut changes = snapshot.changes;
        for attempt in 1..=PUSH_ATTEMPTS {
            self.report.attempts.push = attempt;
            let message = commit_message(self.cfg, &changes);
            let commit = self
                .git
                .commit_tree(&tree, base.as_deref(), &message)
                .kind(Kind::Git)?;
            signals::check().kind(Kind::Git)?;
            let started = Instant::now();
            match self.git.push(url, &commit, branch).kind(Kind::Git)? {
                Push::Pushed => {
                    self.git.update_branch(branch, &commit).kind(Kind::Git)?;
                    self.report.commit = Some(commit.clone());
                    let c = &self.report.changes;
                    let msg = format!(
                        "pushed {} to {branch}: {} added, {} modified, {} deleted",
                        short(&commit),
                        c.added,
                        c.modified,
                        c.deleted
                    );
                    log::info!("{msg} ({} ms)", started.elapsed().as_millis());
                    self.report.succeed("pushed", msg);
                    return Ok(());
                }
                Push::Moved if attempt == PUSH_ATTEMPTS => break,
                Push::Moved => {
                    let wait = backoff(attempt);
                    log::warn!("{branch} moved on the remote while we worked; rebuilding the commit on the new tip in {} s", wait.as_secs());
                    sleep(wait).kind(Kind::Git)?;
                    let new_tip = self.git.remote_tip(url, branch).kind(Kind::Git)?;
                    let new_tip = match new_tip {
                        Some(_) => Some(self.git.fetch_tip(url, branch).kind(Kind::Git)?),
                        None => None,
                    };
                    let base_tree = match &new_tip {
                        Some(sha) => self.git.tree_of(sha).kind(Kind::Git)?,
                        None => self.git.empty_tree().kind(Kind::Git)?,
                    };
                    let place = self.place.clone();
                    tree = self
                        .git
                        .compose_tree(&base_tree, &snapshot.tree, &|p| place.owns(p))
                        .kind(Kind::Git)?;
                    changes = self.content_changes(&base_tree, &tree)?;
                    self.report.changes = Changes::from_list(&changes);
                    base = new_tip;
                    if changes.is_empty() {
                        self.report.commit = base.clone();
                        let msg = format!(
                            "no changes: {branch} already received this snapshot from elsewhere"
                        );
                        log::info!("{msg}");
                        self.report.succeed("no_changes", msg);
                        return Ok(());
                    }
                }
            }
        }
        Err(Failure::new(
            Kind::PushRejected,
            format!("the push to {branch} was rejected {PUSH_ATTEMPTS} times: the branch kept moving"),
        )
        .with_hint("something else pushes to this branch constantly; run again later or back up to a branch of its own"))
    }
}

/// The commit message: the configured subject (placeholders filled) and a
/// body listing the changes.
pub fn commit_message(cfg: &Config, changes: &[(char, String)]) -> String {
    let count = |s: char| changes.iter().filter(|(c, _)| *c == s).count();
    let (a, m, d) = (count('A'), count('M'), count('D'));
    let subject = cfg
        .commit_message
        .replace("{workspace}", &cfg.workspace)
        .replace("{added}", &a.to_string())
        .replace("{modified}", &m.to_string())
        .replace("{deleted}", &d.to_string());
    let mut msg = format!(
        "{}\n\nWorkspace {}: {a} added, {m} modified, {d} deleted.\n\n",
        subject.trim_end(),
        cfg.workspace
    );
    for (status, path) in changes.iter().take(MAX_BODY_PATHS) {
        msg.push_str(&format!("{status} {path}\n"));
    }
    if changes.len() > MAX_BODY_PATHS {
        msg.push_str(&format!(
            "... and {} more\n",
            changes.len() - MAX_BODY_PATHS
        ));
    }
    msg
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt))
}

pub fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
