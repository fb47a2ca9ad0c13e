//! The adapter for the system `git`: one function builds every call (clean
//! environment, private config, the token only through an askpass helper in
//! the environment), one function per operation.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::error::Hinted;
use crate::process::{base_env, Child, Output};
use crate::secret::Secret;

/// Environment variables that make our own binary answer git's askpass
/// prompts (see `askpass` in main.rs).
pub const ASKPASS_FLAG: &str = "WINDMILL_GIT_SYNC_ASKPASS";
pub const ASKPASS_USER: &str = "WINDMILL_GIT_SYNC_USERNAME";
pub const ASKPASS_PASSWORD: &str = "WINDMILL_GIT_SYNC_PASSWORD";

/// Settings every git call gets through `GIT_CONFIG_COUNT`, so that neither
/// a user's config nor the repository's own can change what git does.
const SETTINGS: &[(&str, &str)] = &[
    ("core.hooksPath", "/dev/null"),
    ("core.autocrlf", "false"),
    ("core.safecrlf", "false"),
    ("core.fsmonitor", "false"),
    ("core.quotePath", "false"),
    ("credential.helper", ""),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("advice.detachedHead", "false"),
    ("init.defaultBranch", "main"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("transfer.credentialsInUrl", "die"),
    ("push.autoSetupRemote", "false"),
];

/// Identity used for commits.
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// Runs git in one working tree.
pub struct Git {
    dir: PathBuf,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
pub enum Push {
    Pushed,
    /// The branch moved on the remote (non-fast-forward / fetch first).
    Moved,
}

/// One path of a tree diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub status: char,
    pub path: String,
}

impl Git {
    pub fn new(
        dir: &Path,
        home: &Path,
        global_config: &Path,
        credentials: Option<(&str, &Secret)>,
        identity: &Identity,
        timeout: Duration,
    ) -> Result<Git> {
        let mut env = base_env(home);
        let mut push = |k: &str, v: &std::ffi::OsStr| env.push((k.into(), v.to_owned()));
        push("GIT_TERMINAL_PROMPT", "0".as_ref());
        push("GIT_CONFIG_NOSYSTEM", "1".as_ref());
        push("GIT_CONFIG_GLOBAL", global_config.as_os_str());
        push("GIT_AUTHOR_NAME", identity.name.as_ref());
        push("GIT_AUTHOR_EMAIL", identity.email.as_ref());
        push("GIT_COMMITTER_NAME", identity.name.as_ref());
        push("GIT_COMMITTER_EMAIL", identity.email.as_ref());
        push("GIT_CONFIG_COUNT", SETTINGS.len().to_string().as_ref());
        for (i, (k, v)) in SETTINGS.iter().enumerate() {
            push(&format!("GIT_CONFIG_KEY_{i}"), k.as_ref());
            push(&format!("GIT_CONFIG_VALUE_{i}"), v.as_ref());
        }
        if let Some((user, token)) = credentials {
            let exe = std::env::current_exe()
                .context("locating this program to answer git's password prompt")?;
            push("GIT_ASKPASS", exe.as_os_str());
            push(ASKPASS_FLAG, "1".as_ref());
            push(ASKPASS_USER, user.as_ref());
            push(ASKPASS_PASSWORD, token.expose().as_ref());
        }
        Ok(Git {
            dir: dir.to_path_buf(),
            env,
            timeout,
        })
    }

    fn child(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Child {
        let op = args.first().copied().unwrap_or("");
        Child {
            label: format!("git {op}"),
            program: PathBuf::from("git"),
            args: args.iter().map(OsString::from).collect(),
            cwd: self.dir.clone(),
            env: self.env.clone(),
            stdin,
            timeout: self.timeout,
        }
    }

    /// Runs git and returns its output, whatever the exit status.
    pub fn output(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Result<Output> {
        self.child(args, stdin).run()
    }

    /// Runs git and fails unless it exits 0; returns stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        self.run_stdin(args, None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Result<String> {
        let out = self.output(args, stdin)?;
        if !out.success() {
            return Err(failure(args, &out));
        }
        Ok(out.stdout)
    }

    pub fn init(&self) -> Result<()> {
        self.run(&["init", "--quiet"]).map(drop)
    }

    /// The sha of `refs/heads/<branch>` on the remote, or `None` when the
    /// branch (or every branch: an empty remote) is missing.
    pub fn remote_tip(&self, url: &str, branch: &str) -> Result<Option<String>> {
        let full = format!("refs/heads/{branch}");
        let out = self.run(&["ls-remote", "--heads", "--", url, &full])?;
        Ok(out.lines().find_map(|line| {
            let (sha, name) = line.split_once('\t')?;
            (name == full).then(|| sha.to_string())
        }))
    }

    pub fn has_commit(&self, sha: &str) -> bool {
        let spec = format!("{sha}^{{commit}}");
        matches!(self.output(&["cat-file", "-e", &spec], None), Ok(o) if o.success())
    }

    /// Fetches one branch's tip, shallow, into `refs/windmill-git-sync/tip`.
    pub fn fetch_tip(&self, url: &str, branch: &str) -> Result<String> {
        let refspec = format!("+refs/heads/{branch}:refs/windmill-git-sync/tip");
        self.run(&[
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            url,
            &refspec,
        ])?;
        Ok(self
            .run(&[
                "rev-parse",
                "--verify",
                "--quiet",
                "refs/windmill-git-sync/tip^{commit}",
            ])?
            .trim()
            .to_string())
    }

    /// Resets the working tree and index to `tip` (or to nothing, for a new
    /// branch) and removes every untracked and ignored file.
    pub fn reset_to(&self, tip: Option<&str>, branch: &str) -> Result<()> {
        let head = format!("refs/heads/{branch}");
        self.run(&["symbolic-ref", "HEAD", &head])?;
        match tip {
            Some(sha) => {
                self.run(&["reset", "--quiet", "--hard", sha])?;
            }
            None => {
                let _ = self.output(&["update-ref", "-d", &head], None)?;
                self.run(&["read-tree", "--empty"])?;
            }
        }
        self.run(&["clean", "-ffdxq"]).map(drop)
    }

    /// Paths (relative to the top) that differ from the index: modified,
    /// deleted and untracked, ignored ones included (no exclude rules apply).
    pub fn changed_paths(&self) -> Result<Vec<String>> {
        let out = self.run(&[
            "ls-files",
            "-z",
            "--full-name",
            "--modified",
            "--deleted",
            "--others",
        ])?;
        let mut paths: Vec<String> = out
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Tracked paths of the index.
    pub fn tracked_paths(&self) -> Result<Vec<String>> {
        let out = self.run(&["ls-files", "-z", "--full-name"])?;
        Ok(out
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Brings the index in line with the working tree for `paths`.
    pub fn stage(&self, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let stdin = nul_list(paths);
        self.run_stdin(
            &["update-index", "--add", "--remove", "-z", "--stdin"],
            Some(stdin),
        )
        .map(drop)
    }

    pub fn write_tree(&self) -> Result<String> {
        Ok(self.run(&["write-tree"])?.trim().to_string())
    }

    pub fn empty_tree(&self) -> Result<String> {
        Ok(self
            .run_stdin(&["mktree"], Some(Vec::new()))?
            .trim()
            .to_string())
    }

    pub fn tree_of(&self, commit: &str) -> Result<String> {
        Ok(self
            .run(&["rev-parse", "--verify", &format!("{commit}^{{tree}}")])?
            .trim()
            .to_string())
    }

    /// Added, modified and deleted paths between two trees (no renames).
    pub fn diff_trees(&self, from: &str, to: &str) -> Result<Vec<Change>> {
        let out = self.run(&[
            "diff-tree",
            "-r",
            "-z",
            "--no-renames",
            "--name-status",
            from,
            to,
        ])?;
        let mut fields = out.split('\0').filter(|f| !f.is_empty());
        let mut changes = Vec::new();
        while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
            let status = status.chars().next().unwrap_or('M');
            changes.push(Change {
                status,
                path: path.to_string(),
            });
        }
        Ok(changes)
    }

    /// Every blob of a tree as `ls-tree -r -z` lines (`mode type sha\tpath`).
    pub fn ls_tree(&self, tree: &str) -> Result<Vec<String>> {
        let out = self.run(&["ls-tree", "-r", "-z", "--full-tree", tree])?;
        Ok(out
            .split('\0')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Builds a tree from `base` with every path for which `owned` holds
    /// replaced by the entries of `snapshot`, in a private index.
    pub fn compose_tree(
        &self,
        base: &str,
        snapshot: &str,
        owned: &dyn Fn(&str) -> bool,
    ) -> Result<String> {
        let index = self.git_dir()?.join("windmill-git-sync.index");
        let _ = std::fs::remove_file(&index);
        let mut entries: Vec<String> = self
            .ls_tree(base)?
            .into_iter()
            .filter(|l| l.split_once('\t').is_some_and(|(_, p)| !owned(p)))
            .collect();
        entries.extend(
            self.ls_tree(snapshot)?
                .into_iter()
                .filter(|l| l.split_once('\t').is_some_and(|(_, p)| owned(p))),
        );
        let with_index = Git {
            dir: self.dir.clone(),
            env: {
                let mut env = self.env.clone();
                env.push(("GIT_INDEX_FILE".into(), index.clone().into_os_string()));
                env
            },
            timeout: self.timeout,
        };
        with_index.run(&["read-tree", "--empty"])?;
        with_index.run_stdin(
            &["update-index", "-z", "--index-info"],
            Some(nul_list(&entries)),
        )?;
        let tree = with_index.write_tree();
        let _ = std::fs::remove_file(&index);
        tree
    }

    pub fn commit_tree(&self, tree: &str, parent: Option<&str>, message: &str) -> Result<String> {
        let mut args = vec!["commit-tree", tree];
        if let Some(p) = parent {
            args.extend(["-p", p]);
        }
        args.extend(["-F", "-"]);
        Ok(self
            .run_stdin(&args, Some(message.as_bytes().to_vec()))?
            .trim()
            .to_string())
    }

    pub fn update_branch(&self, branch: &str, sha: &str) -> Result<()> {
        self.run(&["update-ref", &format!("refs/heads/{branch}"), sha])
            .map(drop)
    }

    /// Pushes `sha` to the branch without force. A rejection because the
    /// branch moved is `Push::Moved`; every other failure is an error.
    pub fn push(&self, url: &str, sha: &str, branch: &str) -> Result<Push> {
        let refspec = format!("{sha}:refs/heads/{branch}");
        let args = ["push", "--porcelain", "--no-verify", "--", url, &refspec];
        let out = self.output(&args, None)?;
        if out.success() {
            return Ok(Push::Pushed);
        }
        let moved = out.stdout.lines().any(|l| {
            l.starts_with('!')
                && l.contains("[rejected]")
                && (l.contains("fetch first") || l.contains("non-fast-forward"))
        });
        if moved {
            return Ok(Push::Moved);
        }
        Err(failure(&args, &out))
    }

    /// `git push --dry-run` of `sha` to the branch: proves write access.
    pub fn push_dry_run(&self, url: &str, sha: &str, branch: &str) -> Result<()> {
        let refspec = format!("{sha}:refs/heads/{branch}");
        self.run(&[
            "push",
            "--dry-run",
            "--porcelain",
            "--no-verify",
            "--",
            url,
            &refspec,
        ])
        .map(drop)
    }

    pub fn git_dir(&self) -> Result<PathBuf> {
        let out = self.run(&["rev-parse", "--absolute-git-dir"])?;
        Ok(PathBuf::from(out.trim()))
    }
}

fn nul_list(items: &[String]) -> Vec<u8> {
    let mut buf = Vec::new();
    for item in items {
        buf.extend_from_slice(item.as_bytes());
        buf.push(0);
    }
    buf
}

/// An error for a git call that ran and failed: the operation, the status,
/// git's own words, and a hint where the words are recognised.
fn failure(args: &[&str], out: &Output) -> anyhow::Error {
    let op = args.first().copied().unwrap_or("");
    let said = out.complaint(4);
    let message = format!("git {op} failed ({}): {said}", out.status_text());
    match hint_for(&said) {
        Some(h) => anyhow::Error::new(Hinted {
            message,
            hint: h.to_string(),
        }),
        None => anyhow::Error::msg(message),
    }
}

fn hint_for(said: &str) -> Option<&'static str> {
    let s = said.to_ascii_lowercase();
    if s.contains("authentication failed")
        || s.contains("could not read username")
        || s.contains("could not read password")
        || s.contains("403")
    {
        Some("check `git_token` (and `git_username`): the token must be valid and allowed to push to the repository")
    } else if s.contains("repository not found")
        || s.contains("does not appear to be a git repository")
        || s.contains("not found")
    {
        Some("check `git_remote_url`: the repository must exist and the token must be able to see it")
    } else if s.contains("could not resolve host")
        || s.contains("failed to connect")
        || s.contains("connection refused")
    {
        Some("the git server could not be reached: check `git_remote_url` and the network or proxy settings")
    } else if s.contains("remote rejected")
        || s.contains("protected branch")
        || s.contains("pre-receive hook")
    {
        Some("the server refused the push: the branch may be protected against this user")
    } else {
        None
    }
}
