//! Support for the tests of the files under `examples/`: their location, the
//! job token and git credentials those tests use, a `PATH` directory with
//! the tool and the pinned wmill, a Windmill front that serves the
//! variables API, and a bash step run as a Windmill worker runs it.

mod front;
mod job;

use std::path::{Path, PathBuf};

pub use front::{VariableRequest, WindmillFront};
pub use job::Job;

use super::wmill_path;

pub const TOKEN: &str = "wm-job-token-Q7x2LmP9v";
pub const WS: &str = "acme";
pub const GIT_USER: &str = "x-access-token";
pub const GIT_TOKEN: &str = "git-token-Zr81KdW3s";

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A directory holding `windmill-git-sync` (the binary under test) and
/// `wmill` (the pinned CLI), as a worker or the image has them on `PATH`.
pub fn tool_bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let links = [
        (
            "windmill-git-sync",
            PathBuf::from(env!("CARGO_BIN_EXE_windmill-git-sync")),
        ),
        ("wmill", wmill_path()),
    ];
    for (name, target) in links {
        std::os::unix::fs::symlink(&target, dir.path().join(name))
            .unwrap_or_else(|e| panic!("symlink {name}: {e}"));
    }
    dir
}
