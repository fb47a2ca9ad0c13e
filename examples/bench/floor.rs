//! The floor: the same wmill and git work as the tool's, run directly.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::size::{Lane, Size};
use crate::tool::{tail, Ticker};
use crate::workspace::folder;
use crate::{progress, Env, BRANCH, FLOOR_BATCH_FOLDERS, FOLDER_SIZE};

impl Size<'_> {
    /// The floor: what the tool does, done directly in the best order.
    /// Fresh: a shallow clone, pull, commit, push, and the clone removed.
    /// Persistent: ask the remote for its tip (it is ours already), pull,
    /// commit, push. First import: batches of folders with `--includes`
    /// (the floor knows the folders; the tool has to plan them), then one
    /// full pull that also rebuilds the whole `wmill-lock.yaml`.
    pub(crate) fn floor(
        &self,
        lane: &Lane,
        first: bool,
        scratch: &Path,
        label: &str,
    ) -> Result<FloorRun, String> {
        let url = file_url(&lane.remote);
        let dir = lane.work.clone().unwrap_or_else(|| scratch.to_path_buf());
        let parent = self.dir.path();
        let base_url = self.standin.base_url();
        let started = Instant::now();
        let mut wmill = Duration::ZERO;
        let head = format!("refs/heads/{BRANCH}");
        let tip = floor_git(
            self.env,
            parent,
            &["ls-remote", "--heads", "--", &url, &head],
        )?;
        let tip = tip.split('\t').next().unwrap_or("").trim().to_string();
        let _ticker = Ticker::start(format!("{label}: floor"));
        if first {
            fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
            floor_git(self.env, &dir, &["init", "--quiet", "-b", BRANCH])?;
            fs::write(dir.join("wmill.yaml"), self.wmill_yaml)
                .map_err(|e| format!("write wmill.yaml: {e}"))?;
            let folders: Vec<String> = (0..self.n.div_ceil(FOLDER_SIZE)).map(folder).collect();
            let batches: Vec<&[String]> = folders.chunks(FLOOR_BATCH_FOLDERS).collect();
            if batches.len() > 1 {
                for (i, batch) in batches[..batches.len() - 1].iter().enumerate() {
                    let includes: Vec<String> = batch.iter().map(|f| format!("f/{f}/**")).collect();
                    remove_lock(&dir)?;
                    wmill += floor_pull(
                        self.env,
                        &base_url,
                        &dir,
                        &["--includes", &includes.join(",")],
                    )?;
                    if (i + 1) % 10 == 0 {
                        progress(&format!(
                            "{label}: floor batch {} of {}",
                            i + 1,
                            batches.len()
                        ));
                    }
                }
            }
        } else if lane.work.is_none() {
            floor_git(
                self.env,
                parent,
                &[
                    "clone",
                    "--quiet",
                    "--depth=1",
                    "--no-tags",
                    "--branch",
                    BRANCH,
                    "--",
                    &url,
                    &dir.to_string_lossy(),
                ],
            )?;
        } else {
            let ours = floor_git(self.env, &dir, &["rev-parse", "HEAD"])?;
            if ours.trim() != tip {
                floor_git(
                    self.env,
                    &dir,
                    &["fetch", "--quiet", "--depth=1", "--", &url, &head],
                )?;
                floor_git(
                    self.env,
                    &dir,
                    &["reset", "--quiet", "--hard", "FETCH_HEAD"],
                )?;
            }
        }
        remove_lock(&dir)?;
        wmill += floor_pull(self.env, &base_url, &dir, &[])?;
        floor_git(self.env, &dir, &["add", "--all"])?;
        let same = run_cmd(
            "git",
            &["diff", "--cached", "--quiet"],
            &dir,
            &self.env.git_env(),
        )?;
        if !same.success {
            floor_git(self.env, &dir, &["commit", "--quiet", "-m", "floor"])?;
            let refspec = format!("HEAD:{head}");
            floor_git(self.env, &dir, &["push", "--quiet", "--", &url, &refspec])?;
        }
        if lane.work.is_none() {
            fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?;
        }
        Ok(FloorRun {
            wall: started.elapsed(),
            wmill,
        })
    }
}

// ---------------------------------------------------------------------------
// The floor's children

pub(crate) struct FloorRun {
    pub(crate) wall: Duration,
    pub(crate) wmill: Duration,
}

pub(crate) struct CmdOut {
    pub(crate) success: bool,
    pub(crate) stdout: String,
}

pub(crate) fn run_cmd(
    program: &str,
    args: &[&str],
    dir: &Path,
    env: &[(&'static str, String)],
) -> Result<CmdOut, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("start {program}: {e}"))?;
    let code = out.status.code();
    if !out.status.success() && code != Some(1) {
        return Err(format!(
            "floor: {program} {args:?} in {} failed ({:?}):\n{}\n{}",
            dir.display(),
            code,
            tail(&String::from_utf8_lossy(&out.stdout), 10),
            tail(&String::from_utf8_lossy(&out.stderr), 10)
        ));
    }
    Ok(CmdOut {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

/// A git call of the floor that must succeed; returns stdout.
pub(crate) fn floor_git(env: &Env, dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = run_cmd("git", args, dir, &env.git_env())?;
    if !out.success {
        return Err(format!("floor: git {args:?} in {} failed", dir.display()));
    }
    Ok(out.stdout)
}

/// `wmill sync pull --yes` as WMILL.md section 0 recommends; its duration.
pub(crate) fn floor_pull(
    env: &Env,
    base_url: &str,
    dir: &Path,
    extra: &[&str],
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut args = vec!["sync", "pull", "--yes"];
    args.extend_from_slice(extra);
    let wmill = env.wmill.to_string_lossy().into_owned();
    let out = run_cmd(&wmill, &args, dir, &env.wmill_env(base_url))?;
    if !out.success {
        return Err(format!(
            "floor: wmill sync pull failed in {}:\n{}",
            dir.display(),
            tail(&out.stdout, 10)
        ));
    }
    Ok(started.elapsed())
}

pub(crate) fn remove_lock(dir: &Path) -> Result<(), String> {
    match fs::remove_file(dir.join("wmill-lock.yaml")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove wmill-lock.yaml: {e}")),
    }
}

pub(crate) fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("start cp");
    assert!(
        status.success(),
        "cp -a {} {} failed",
        from.display(),
        to.display()
    );
}
