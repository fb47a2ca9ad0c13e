//! Support code shared by the integration tests: a Windmill API stand-in, an
//! authenticated smart-HTTP git server, git helpers, a runner for the tool
//! and the pinned wmill, and argv-recording shims.
//!
//! Each test binary uses `mod support; use support::*;` and only part of
//! it, hence the `dead_code` allowance. `expect` is used for failures of the
//! test machinery itself (spawning a thread, binding 127.0.0.1), where a
//! panic with its message is the right outcome of a test.
#![allow(dead_code, unused_imports, clippy::expect_used)]

pub mod examples;
pub mod git;
pub mod git_http;
pub mod run;
pub mod setup;
pub mod shims;
pub mod windmill;

pub use git::{
    checkout, commit_count, commit_files, git, git_bytes, git_output, init_bare, log_subjects, tip,
    tree_files, GitOutput,
};
pub use git_http::GitHttpServer;
pub use run::{wmill_installed_version, wmill_path, wmill_sync_pull, Outcome, Tool, WmillPull};
pub use setup::{files_of, without_bookkeeping, Setup, TOKEN, WS};
pub use shims::{find_on_path, Gate, Shims};
pub use windmill::{Fault, Json, Request, ScriptMeta, TarballQuery, WindmillStandIn, Workspace};
