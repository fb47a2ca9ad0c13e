//! A ready-made scene for end-to-end tests: a Windmill stand-in serving a
//! workspace, a local bare remote, and the config that joins them; plus the
//! reference every pushed place is held against, a plain `wmill sync pull`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::git::{git, init_bare};
use super::run::{wmill_path, wmill_sync_pull, Outcome, Tool};
use super::windmill::{WindmillStandIn, Workspace};

pub const TOKEN: &str = "wm-token-7Hq2xZ9pLk";
pub const WS: &str = "sample";

/// A Windmill stand-in, a bare remote, and a config pointing at both.
pub struct Setup {
    pub windmill: WindmillStandIn,
    pub remote: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(ws: Workspace) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let remote = dir.path().join("remote.git");
        init_bare(&remote);
        Setup {
            windmill: WindmillStandIn::start(TOKEN, WS, ws),
            remote,
            dir,
        }
    }

    pub fn config(&self) -> Value {
        json!({
            "windmill_token": TOKEN,
            "windmill_base_url": self.windmill.base_url(),
            "workspace": WS,
            "git_remote_url": self.remote,
            "wmill_path": wmill_path(),
            "git_timeout_secs": 60,
            "pull_timeout_secs": 60,
        })
    }

    /// The config with `extra`'s keys added or replaced.
    pub fn with(&self, extra: Value) -> Value {
        let mut c = self.config();
        if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
            c.extend(extra);
        }
        c
    }

    pub fn run(&self, config: Value) -> Outcome {
        Tool::new().config(config).run()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A plain `wmill sync pull` into an empty folder holding `wmill_yaml`:
    /// the reference the pushed place must equal (SPEC 5).
    pub fn plain_pull(&self, wmill_yaml: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let dir = tempfile::tempdir_in(self.dir.path()).expect("tempdir");
        git(dir.path(), &["init", "--quiet"]);
        std::fs::write(dir.path().join("wmill.yaml"), wmill_yaml).expect("write wmill.yaml");
        let out = wmill_sync_pull(dir.path(), &self.windmill.base_url(), TOKEN, WS, &[]);
        out.assert_code(0);
        files_of(dir.path())
    }
}

/// Every file below `root` (path relative to it, `.git` left out).
pub fn files_of(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    collect(root, root, &mut out);
    out
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let name = path
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        if name == ".git" {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.insert(name, std::fs::read(&path).expect("read"));
        }
    }
}

/// The files under `prefix` (made relative to it), without the tool's two
/// bookkeeping files.
pub fn without_bookkeeping(
    files: &BTreeMap<String, Vec<u8>>,
    prefix: &str,
) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
        .filter(|(k, _)| k != "wmill.yaml" && k != "wmill-lock.yaml")
        .collect()
}
