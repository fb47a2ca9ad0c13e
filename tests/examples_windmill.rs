//! The Windmill files under `examples/windmill` work as their comments say:
//! the bash step backs up from inside a (stand-in) job, and the YAML is what
//! the pinned wmill writes.
//!
//! `WINDMILL_GIT_SYNC_BLESS=1 cargo test --test examples_windmill` rewrites
//! the Windmill files from a fresh pull (after a wmill upgrade), instead of
//! comparing them.

#![allow(clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::examples::{
    examples, read, tool_bin_dir, Job, WindmillFront, GIT_TOKEN, GIT_USER, TOKEN, WS,
};
use support::*;

const TOKEN_VARIABLE: &str = "f/git_sync/git_token";

/// Every file under `root`, by relative path, skipping `.git`.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path
                .strip_prefix(root)
                .expect("a path under the root")
                .to_string_lossy()
                .into_owned();
            if name == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.insert(name, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A stand-in Windmill behind a front that also serves the git token
/// variable, and an authenticated git server with an empty repository.
struct Windmill {
    front: WindmillFront,
    standin: WindmillStandIn,
    git: GitHttpServer,
    repos: tempfile::TempDir,
}

impl Windmill {
    fn start(variable_value: &str) -> Windmill {
        let repos = tempfile::tempdir().expect("tempdir");
        init_bare(&repos.path().join("backup.git"));
        let standin = WindmillStandIn::start(TOKEN, WS, Workspace::sample());
        let front = WindmillFront::start(&standin, &[(TOKEN_VARIABLE, variable_value)]);
        let git = GitHttpServer::start(repos.path(), GIT_USER, GIT_TOKEN);
        Windmill {
            front,
            standin,
            git,
            repos,
        }
    }

    fn remote(&self) -> PathBuf {
        self.repos.path().join("backup.git")
    }
}

fn bash_step() -> PathBuf {
    examples().join("windmill/f/git_sync/backup.sh")
}

/// Every argument of every recorded start, joined.
fn all_argv(shims: &Shims) -> String {
    (shims.records().iter())
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bash_step_backs_up_with_the_jobs_token_and_a_variable() {
    let w = Windmill::start(GIT_TOKEN);
    let bin = tool_bin_dir();
    let shims = Shims::new(&["curl", "git", "wmill", "node"]);
    let job = Job::new(&w.front.base_url)
        .path(shims.dir())
        .path(bin.path());
    let remote_url = w.git.url("backup.git");
    let out = job.run(&bash_step(), &[&remote_url, "main", TOKEN_VARIABLE]);
    out.assert_code(0);

    // Windmill's result: ./result.json, the same line the tool printed last.
    let result = job.result().expect("./result.json was written");
    assert_eq!(result, out.json, "{}", out.dump());
    assert_eq!(result["status"], "pushed", "{}", out.dump());
    assert_eq!(result["workspace"], WS);
    let warnings = result["warnings"].to_string();
    assert!(warnings.contains("WM_TOKEN"), "{warnings}");
    let commit = result["commit"].as_str().expect("a commit");
    assert_eq!(tip(&w.remote(), "main").as_deref(), Some(commit));
    assert!(tree_files(&w.remote(), "main").contains_key("f/ops/job_1.sh"));

    // The variable was read with the job's token; the pull used it too and
    // went to BASE_INTERNAL_URL (WM_BASE_URL points nowhere).
    let reads = w.front.variable_requests();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].path, TOKEN_VARIABLE);
    assert!(reads[0].authorized, "{reads:?}");
    assert!(w.standin.tarball_requests() >= 1);
    assert!(w
        .standin
        .requests()
        .iter()
        .all(|r| r.authorized || r.url.ends_with("/version")));

    // No token in any argument list: curl, git, wmill and node were recorded.
    let argv = all_argv(&shims);
    for program in ["curl", "git", "wmill", "node"] {
        assert!(
            !shims.records_of(program).is_empty(),
            "no {program} start recorded:\n{argv}"
        );
    }
    assert!(!argv.contains(TOKEN) && !argv.contains(GIT_TOKEN), "{argv}");
    // Nor in the log.
    assert!(!out.stdout.contains(GIT_TOKEN) && !out.stderr.contains(GIT_TOKEN));
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
}

#[test]
fn bash_step_fails_the_job_when_the_backup_fails() {
    // The variable holds a token the git server refuses.
    let w = Windmill::start("not-the-git-token");
    let bin = tool_bin_dir();
    let job = Job::new(&w.front.base_url).path(bin.path());
    let out = job.run(&bash_step(), &[&w.git.url("backup.git")]);
    out.assert_code(4);
    let result = job.result().expect("./result.json was written");
    assert_eq!(result["status"], "failed", "{}", out.dump());
    assert_eq!(result["success"], false);
    assert_eq!(result["error"]["kind"], "git", "{}", out.dump());
    assert_eq!(tip(&w.remote(), "main"), None);
}

#[test]
fn bash_step_stops_before_the_tool_without_its_variable_or_a_job() {
    let w = Windmill::start(GIT_TOKEN);
    let bin = tool_bin_dir();
    let url = w.git.url("backup.git");

    let missing = Job::new(&w.front.base_url).path(bin.path());
    let out = missing.run(&bash_step(), &[&url, "main", "f/git_sync/nope"]);
    out.assert_code(2);
    assert!(out.stderr.contains("f/git_sync/nope"), "{}", out.dump());
    assert!(missing.result().is_none());

    let outside = Job::new(&w.front.base_url)
        .without("WM_TOKEN")
        .path(bin.path());
    let out = outside.run(&bash_step(), &[&url]);
    out.assert_code(2);
    assert!(out.stderr.contains("Windmill job"), "{}", out.dump());

    let bad_path = Job::new(&w.front.base_url).path(bin.path());
    let out = bad_path.run(&bash_step(), &[&url, "main", "../../users/whoami"]);
    out.assert_code(2);
    assert!(w
        .front
        .variable_requests()
        .iter()
        .all(|r| r.path != "../../users/whoami"));
    assert_eq!(tip(&w.remote(), "main"), None);
}

/// SPEC 3 without the script: inside a job only the git settings are needed,
/// and the job's token stands in only for the job's own workspace.
#[test]
fn inside_a_job_only_the_git_settings_are_needed() {
    let standin = WindmillStandIn::start(TOKEN, WS, Workspace::sample());
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = dir.path().join("remote.git");
    init_bare(&remote);
    let bin = tool_bin_dir();
    let job = |config: Value| {
        Tool::new()
            .env("WM_TOKEN", TOKEN)
            .env("WM_WORKSPACE", WS)
            .env("WM_BASE_URL", "http://127.0.0.1:9/")
            .env("BASE_INTERNAL_URL", &standin.base_url())
            .path_prepend(bin.path())
            .config(config)
            .run()
    };
    let out = job(json!({"git_remote_url": remote}));
    out.assert_code(0);
    assert_eq!(out.json["status"], "pushed", "{}", out.dump());
    assert_eq!(out.json["workspace"], WS);

    let out = job(json!({"git_remote_url": remote, "workspace": "other"}));
    out.assert_code(2);
    assert_eq!(out.json["error"]["kind"], "config");
    let message = out.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("windmill_token"), "{}", out.dump());
}

// ---------------------------------------------------------------------------
// The Windmill items under examples/windmill are what `wmill sync pull` writes.

fn pretty(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("serialise JSON")
}

/// A bash script's argument schema as Windmill infers it, with descriptions.
fn bash_schema(args: &[(&str, Option<&str>, &str)]) -> String {
    let properties: serde_json::Map<String, Value> = (args.iter())
        .map(|(name, default, description)| {
            let prop = json!({
                "type": "string",
                "description": description,
                "default": default,
                "originalType": "string",
            });
            ((*name).to_owned(), prop)
        })
        .collect();
    let required: Vec<&str> = (args.iter())
        .filter(|(_, default, _)| default.is_none())
        .map(|(name, _, _)| *name)
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
    })
    .to_string()
}

const REMOTE_URL_HELP: &str = "The Git repository to push to (https)";
const BRANCH_HELP: &str = "The branch that holds the backup";
const VARIABLE_HELP: &str = "Path of the secret Windmill variable holding the git token";

/// The items of examples/windmill as the server exports them; script
/// bodies and the error handler come from the example files themselves.
fn example_items() -> Workspace {
    let dir = examples().join("windmill/f/git_sync");
    let mut ws = Workspace::new();
    ws.raw(
        "f/git_sync/folder.meta.json",
        pretty(&json!({
            "extra_perms": {},
            "summary": "Backups of this workspace to Git (windmill-git-sync)",
            "display_name": "git_sync",
            "owners": [],
        })),
    );
    ws.script_with(
        "f/git_sync/backup",
        "bash",
        &read(&dir.join("backup.sh")),
        ScriptMeta::new("Back up this workspace to Git")
            .description(
                "Runs windmill-git-sync on the worker with the job's own token; \
                 the git token comes from a secret variable.",
            )
            .schema(&bash_schema(&[
                ("git_remote_url", None, REMOTE_URL_HELP),
                ("git_branch", Some("main"), BRANCH_HELP),
                ("git_token_variable", Some(TOKEN_VARIABLE), VARIABLE_HELP),
                (
                    "repo_subdir",
                    Some(""),
                    "Folder of the repository for the backup (empty: the root)",
                ),
            ])),
    );
    ws.script_with(
        "f/git_sync/backup_docker",
        "bash",
        &read(&dir.join("backup_docker.sh")),
        ScriptMeta::new("Back up this workspace to Git (Docker)")
            .description(
                "Runs the windmill-git-sync image through the worker's Docker socket; \
                 the git token comes from a secret variable.",
            )
            .schema(&bash_schema(&[
                ("git_remote_url", None, REMOTE_URL_HELP),
                ("git_branch", Some("main"), BRANCH_HELP),
                ("git_token_variable", Some(TOKEN_VARIABLE), VARIABLE_HELP),
                (
                    "image",
                    Some("windmill-git-sync:latest"),
                    "The windmill-git-sync image",
                ),
                (
                    "docker_network",
                    Some(""),
                    "Docker network on which BASE_INTERNAL_URL answers (empty: the default)",
                ),
            ])),
    );
    let from_input =
        |name: &str| json!({"type": "javascript", "expr": format!("flow_input.{name}")});
    let error_field = |name: &str| json!({"type": "javascript", "expr": format!("error.{name}")});
    let input = |description: &str, default: Value| json!({"type": "string", "description": description, "default": default});
    let flow = json!({
        "value": {
            "modules": [{
                "id": "backup",
                "summary": "Back up the workspace",
                "value": {
                    "type": "script",
                    "path": "f/git_sync/backup",
                    "input_transforms": {
                        "git_remote_url": from_input("git_remote_url"),
                        "git_branch": from_input("git_branch"),
                        "git_token_variable": from_input("git_token_variable"),
                    },
                },
            }],
            "failure_module": {
                "id": "failure",
                "summary": "Report the failure",
                "value": {
                    "type": "rawscript",
                    "language": "bash",
                    "content": read(&dir.join("backup_flow.flow/report_the_failure.inline_script.sh")),
                    "input_transforms": {
                        "message": error_field("message"),
                        "step_id": error_field("step_id"),
                    },
                },
            },
        },
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "git_remote_url": input(REMOTE_URL_HELP, Value::Null),
                "git_branch": input(BRANCH_HELP, json!("main")),
                "git_token_variable": input(VARIABLE_HELP, json!(TOKEN_VARIABLE)),
            },
            "required": ["git_remote_url"],
            "order": ["git_remote_url", "git_branch", "git_token_variable"],
        },
        "summary": "Back up this workspace to Git",
        "description": "Runs f/git_sync/backup; when it fails, the error handler reports it.",
    });
    ws.raw("f/git_sync/backup_flow.flow.json", pretty(&flow));
    let schedule = json!({
        "cron_version": "v2",
        "no_flow_overlap": true,
        "email": "admin@windmill.dev",
        "ws_error_handler_muted": false,
        "schedule": "0 17 * * * *",
        "timezone": "UTC",
        "enabled": true,
        "script_path": "f/git_sync/backup_flow",
        "is_flow": true,
        "summary": "Hourly backup to Git",
        "args": {
            "git_remote_url": "https://github.com/acme/windmill-backup.git",
            "git_branch": "main",
            "git_token_variable": TOKEN_VARIABLE,
        },
    });
    ws.raw("f/git_sync/hourly.schedule.json", pretty(&schedule));
    ws
}

#[test]
fn windmill_yaml_is_what_wmill_sync_pull_writes() {
    let example = examples().join("windmill");
    let standin = WindmillStandIn::start(TOKEN, WS, example_items());
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "--quiet"]);
    std::fs::copy(example.join("wmill.yaml"), dir.path().join("wmill.yaml"))
        .expect("copy wmill.yaml");
    wmill_sync_pull(dir.path(), &standin.base_url(), TOKEN, WS, &[]).assert_code(0);
    let mut pulled = files_under(dir.path());
    pulled.remove("wmill-lock.yaml");
    // The scope file makes the pull ask for what the push would send.
    let tarball = (standin.requests().into_iter())
        .find(|r| r.is_tarball())
        .expect("a tarball request");
    assert!(
        tarball.url.contains("include_schedules=true"),
        "{}",
        tarball.url
    );
    assert!(
        tarball.url.contains("skip_variables=true"),
        "{}",
        tarball.url
    );

    if std::env::var_os("WINDMILL_GIT_SYNC_BLESS").is_some() {
        for (name, bytes) in &pulled {
            let path = example.join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write an example file");
        }
    }
    let shipped = files_under(&example);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&pulled),
        names(&shipped),
        "the pull and examples/windmill hold different files"
    );
    for (name, bytes) in &pulled {
        assert!(
            shipped[name] == *bytes,
            "examples/windmill/{name} differs from what wmill sync pull writes:\n--- pulled ---\n{}\n--- shipped ---\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&shipped[name]),
        );
    }
}
