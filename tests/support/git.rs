//! Helpers over the system `git` for setting up and inspecting remotes.
//!
//! Every call runs with a cleared environment (PATH only, a throw-away
//! HOME, no system or global config, `LC_ALL=C`, fixed author, committer
//! and dates, stdin closed) and panics with the command, directory, status
//! and output when git fails.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

/// Fixed identity and dates of every commit the helpers make.
pub const AUTHOR_NAME: &str = "Test Author";
pub const AUTHOR_EMAIL: &str = "author@example.com";
pub const COMMIT_DATE: &str = "2024-01-01T00:00:00Z";

/// What a finished git call left behind.
#[derive(Debug)]
pub struct GitOutput {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

fn run_git<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> std::process::Output {
    let home = tempfile::tempdir().expect("git helper: create a temporary HOME");
    duct::cmd("git", args)
        .dir(cwd)
        .full_env(git_env(home.path()))
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .unwrap_or_else(|e| panic!("git helper: could not start git in {}: {e}", cwd.display()))
}

/// Runs git in `cwd`; never panics on a failing status.
pub fn git_output<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> GitOutput {
    let output = run_git(cwd, args);
    GitOutput {
        success: output.status.success(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs git in `cwd` and returns its stdout as bytes; panics on failure.
pub fn git_bytes<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Vec<u8> {
    let output = run_git(cwd, args);
    if !output.status.success() {
        let argv: Vec<String> = (args.iter())
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        panic!(
            "git {argv:?} failed\ncwd: {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            cwd.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
    output.stdout
}

/// Runs git in `cwd` and returns its trimmed stdout; panics on failure.
pub fn git<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> String {
    String::from_utf8_lossy(&git_bytes(cwd, args))
        .trim()
        .to_owned()
}

fn git_env(home: &Path) -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
    let home = home.to_string_lossy().into_owned();
    let mut env = vec![
        ("PATH".to_owned(), path),
        ("HOME".to_owned(), home),
        ("LC_ALL".to_owned(), "C".to_owned()),
        ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
        ("GIT_CONFIG_GLOBAL".to_owned(), "/dev/null".to_owned()),
        ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
    ];
    for (key, value) in [
        ("GIT_AUTHOR_NAME", AUTHOR_NAME),
        ("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL),
        ("GIT_AUTHOR_DATE", COMMIT_DATE),
        ("GIT_COMMITTER_NAME", AUTHOR_NAME),
        ("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL),
        ("GIT_COMMITTER_DATE", COMMIT_DATE),
    ] {
        env.push((key.to_owned(), value.to_owned()));
    }
    env
}

/// `git init --bare -b main <path>`.
pub fn init_bare(path: &Path) {
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("git helper: create {}: {e}", path.display()));
    git(path, &["init", "--quiet", "--bare", "-b", "main", "."]);
}

/// Clones `remote` (a bare repository path or a URL), writes `files` on
/// `branch` (creating it as an orphan when the remote lacks it), commits
/// with `message` and pushes. Returns the new commit's sha.
pub fn commit_files(
    remote: impl AsRef<OsStr>,
    branch: &str,
    files: &[(&str, &str)],
    message: &str,
) -> String {
    let work = tempfile::tempdir().expect("git helper: create a clone directory");
    let dir = work.path().join("clone");
    let remote = remote.as_ref();
    git(
        work.path(),
        &[
            OsStr::new("clone"),
            OsStr::new("--quiet"),
            OsStr::new("--no-checkout"),
        ]
        .into_iter()
        .chain([OsStr::new("--"), remote, dir.as_os_str()])
        .collect::<Vec<_>>(),
    );
    let remote_ref = format!("refs/remotes/origin/{branch}");
    if git_output(&dir, &["rev-parse", "--verify", "--quiet", &remote_ref]).success {
        git(
            &dir,
            &["checkout", "--quiet", "--force", "-B", branch, &remote_ref],
        );
    } else {
        // An orphan with an empty index; the --no-checkout work tree is empty.
        git(
            &dir,
            &["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")],
        );
        git(&dir, &["read-tree", "--empty"]);
    }
    for (path, content) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("git helper: create {}: {e}", parent.display()));
        }
        std::fs::write(&file, content)
            .unwrap_or_else(|e| panic!("git helper: write {}: {e}", file.display()));
    }
    git(&dir, &["add", "--all"]);
    git(&dir, &["commit", "--quiet", "--allow-empty", "-m", message]);
    git(
        &dir,
        &[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ],
    );
    git(&dir, &["rev-parse", "HEAD"])
}

/// The commit `branch` points at in the bare repository `remote`.
pub fn tip(remote: &Path, branch: &str) -> Option<String> {
    let rev = format!("refs/heads/{branch}^{{commit}}");
    let out = git_output(remote, &["rev-parse", "--verify", "--quiet", &rev]);
    out.success
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Subjects of the commits on `branch`, newest first.
pub fn log_subjects(remote: &Path, branch: &str) -> Vec<String> {
    let rev = format!("refs/heads/{branch}");
    git(remote, &["log", "--format=%s", &rev, "--"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Number of commits reachable from `branch`; 0 when the branch is missing.
pub fn commit_count(remote: &Path, branch: &str) -> usize {
    if tip(remote, branch).is_none() {
        return 0;
    }
    let rev = format!("refs/heads/{branch}");
    let count = git(remote, &["rev-list", "--count", &rev, "--"]);
    count
        .parse()
        .unwrap_or_else(|e| panic!("git helper: rev-list --count printed {count:?}: {e}"))
}

/// Every file (blob or symlink) of the tree at `rev`, path to bytes.
pub fn tree_files(remote: &Path, rev: &str) -> BTreeMap<String, Vec<u8>> {
    let listing = git_bytes(remote, &["ls-tree", "-r", "-z", "--full-tree", rev]);
    let mut files = BTreeMap::new();
    for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let (meta, path) = record
            .split_once('\t')
            .unwrap_or_else(|| panic!("git helper: odd ls-tree record {record:?}"));
        let mut fields = meta.split(' ');
        let (_mode, kind, sha) = (fields.next(), fields.next(), fields.next());
        if kind != Some("blob") {
            continue;
        }
        let sha = sha.unwrap_or_else(|| panic!("git helper: odd ls-tree record {record:?}"));
        let bytes = git_bytes(remote, &["cat-file", "blob", sha]);
        files.insert(path.to_owned(), bytes);
    }
    files
}

/// Clones `branch` of `remote` into `dest` (which must not exist or be empty).
pub fn checkout(remote: &Path, branch: &str, dest: &Path) {
    let parent = dest.parent().unwrap_or_else(|| Path::new("/"));
    git(
        parent,
        &[
            OsStr::new("clone"),
            OsStr::new("--quiet"),
            OsStr::new("--branch"),
            OsStr::new(branch),
            OsStr::new("--"),
            remote.as_os_str(),
            dest.as_os_str(),
        ],
    );
}
