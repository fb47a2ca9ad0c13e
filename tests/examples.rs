//! The files under `examples/` work as their comments say: the Windmill bash
//! step backs up from inside a (stand-in) job, the Windmill YAML is what the
//! pinned wmill writes, the compose sidecar and its scheduler fit together,
//! and every config example loads.
//!
//! `WINDMILL_GIT_SYNC_BLESS=1 cargo test --test examples` rewrites the
//! Windmill files from a fresh pull (after a wmill upgrade), instead of
//! comparing them.

#![allow(clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const TOKEN: &str = "wm-job-token-Q7x2LmP9v";
const WS: &str = "acme";
const GIT_USER: &str = "x-access-token";
const GIT_TOKEN: &str = "git-token-Zr81KdW3s";
const TOKEN_VARIABLE: &str = "f/git_sync/git_token";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

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

/// A directory holding `windmill-git-sync` (the binary under test) and
/// `wmill` (the pinned CLI), as a worker or the image has them on `PATH`.
fn tool_bin_dir() -> tempfile::TempDir {
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

// ---------------------------------------------------------------------------
// A Windmill front: the variables API, everything else passed to the stand-in.

/// One request for a variable's value.
#[derive(Clone, Debug)]
struct VariableRequest {
    path: String,
    authorized: bool,
}

/// Serves `GET /api/w/{ws}/variables/get_value/{path}` as Windmill does (the
/// value as one JSON string, for the right bearer token) and forwards every
/// other request to a [`WindmillStandIn`], so that one base URL serves both,
/// like a job's `BASE_INTERNAL_URL`.
struct WindmillFront {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<VariableRequest>>>,
    base_url: String,
}

impl WindmillFront {
    fn start(standin: &WindmillStandIn, variables: &[(&str, &str)]) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("listen on 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let upstream = standin
            .base_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let variables: BTreeMap<String, String> = (variables.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, requests) = (Arc::clone(&server), Arc::clone(&requests));
            std::thread::spawn(move || {
                // `recv` fails once `unblock` is called on drop.
                while let Ok(request) = server.recv() {
                    answer(request, &upstream, &variables, &requests);
                }
            })
        };
        WindmillFront {
            server,
            thread: Some(thread),
            requests,
            base_url: format!("http://127.0.0.1:{port}/"),
        }
    }

    fn variable_requests(&self) -> Vec<VariableRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for WindmillFront {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(
    mut request: tiny_http::Request,
    upstream: &str,
    variables: &BTreeMap<String, String>,
    requests: &Mutex<Vec<VariableRequest>>,
) {
    let prefix = format!("/api/w/{WS}/variables/get_value/");
    let url = request.url().to_owned();
    let response = if let Some(path) = url.strip_prefix(&prefix) {
        let authorized = (request.headers().iter())
            .find(|h| h.field.equiv("Authorization"))
            .is_some_and(|h| h.value.as_str() == format!("Bearer {TOKEN}"));
        requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(VariableRequest {
                path: path.to_owned(),
                authorized,
            });
        match variables.get(path) {
            _ if !authorized => reply(401, "text/plain", b"Unauthorized".to_vec()),
            Some(value) => reply(
                200,
                "application/json",
                json!(value).to_string().into_bytes(),
            ),
            None => reply(
                404,
                "text/plain",
                format!("Not found: variable {path} not found").into_bytes(),
            ),
        }
    } else {
        forward(&mut request, upstream)
    };
    let _ = request.respond(response);
}

fn reply(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let header =
        tiny_http::Header::from_bytes("Content-Type", content_type).expect("a valid header");
    tiny_http::Response::from_data(body)
        .with_status_code(status)
        .with_header(header)
}

/// Sends `request` to `upstream` (host:port) over HTTP/1.1 and returns its
/// answer.
fn forward(
    request: &mut tiny_http::Request,
    upstream: &str,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut body = Vec::new();
    request
        .as_reader()
        .read_to_end(&mut body)
        .expect("read the request body");
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\nContent-Length: {}\r\n",
        request.method(),
        request.url(),
        body.len()
    );
    for h in request.headers() {
        let name = h.field.as_str().as_str();
        if !["host", "connection", "content-length", "transfer-encoding"]
            .contains(&name.to_ascii_lowercase().as_str())
        {
            head.push_str(&format!("{name}: {}\r\n", h.value.as_str()));
        }
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(upstream).expect("connect to the stand-in");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&body))
        .expect("send to the stand-in");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("read the stand-in's answer");
    let split = (raw.windows(4))
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer from the stand-in");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = (lines.next().and_then(|l| l.split(' ').nth(1)))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut content_type = "application/octet-stream".to_owned();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = value.to_owned();
        }
        if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            body = dechunk(&body);
        }
    }
    reply(status, &content_type, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = (raw.windows(2))
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("a hexadecimal chunk size");
        raw = &raw[end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

// ---------------------------------------------------------------------------
// Running a script as a Windmill worker runs a bash step.

struct Job {
    /// The job's directory, where Windmill looks for `result.json`.
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    path: Vec<PathBuf>,
}

impl Job {
    /// A job environment for `base_url` (the job's `BASE_INTERNAL_URL`).
    /// `WM_BASE_URL`, the public URL, points nowhere: the tool must use the
    /// internal one.
    fn new(base_url: &str) -> Job {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join(".home");
        std::fs::create_dir(&home).expect("create HOME");
        let env = [
            ("HOME", home.to_string_lossy().as_ref()),
            ("TMPDIR", std::env::temp_dir().to_string_lossy().as_ref()),
            ("WM_TOKEN", TOKEN),
            ("WM_WORKSPACE", WS),
            ("WM_BASE_URL", "http://127.0.0.1:9/"),
            ("BASE_INTERNAL_URL", base_url),
            ("WM_JOB_ID", "0192e1c4-5f4a-7d3e-9b1a-2c3d4e5f6a7b"),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        Job {
            dir,
            env,
            path: Vec::new(),
        }
    }

    fn without(mut self, key: &str) -> Job {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Puts `dir` on `PATH`, before the test's own `PATH` and after any
    /// directory added earlier.
    fn path(mut self, dir: &Path) -> Job {
        self.path.push(dir.to_owned());
        self
    }

    fn result(&self) -> Option<Value> {
        let path = self.dir.path().join("result.json");
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("result.json is JSON"))
    }

    /// `bash SCRIPT ARGS...` in the job's directory, stdin closed.
    fn run(&self, script: &Path, args: &[&str]) -> Outcome {
        let mut path: Vec<String> = (self.path.iter())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        path.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()));
        let mut env = self.env.clone();
        env.push(("PATH".to_owned(), path.join(":")));
        let mut argv = vec![script.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let command = format!("bash {}", argv.join(" "));
        let started = Instant::now();
        let handle = duct::cmd("bash", &argv)
            .dir(self.dir.path())
            .full_env(env)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .start()
            .unwrap_or_else(|e| panic!("start {command}: {e}"));
        let finished = handle
            .wait_timeout(Duration::from_secs(300))
            .expect("wait for bash")
            .is_some();
        if !finished {
            let _ = handle.kill();
        }
        let output = handle.into_output().expect("collect bash's output");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let outcome = Outcome {
            code: output.status.code().unwrap_or(-1),
            json: (stdout.lines().last())
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            duration: started.elapsed(),
            command,
        };
        assert!(finished, "timed out\n{}", outcome.dump());
        outcome
    }
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

// ---------------------------------------------------------------------------
// The cron sidecar: compose file, scheduler, crontab and config fit together.

/// A YAML value from the block subset compose files are usually written in.
#[derive(Clone, Debug, PartialEq)]
enum Yaml {
    Null,
    /// A plain (unquoted) scalar: `true`, numbers and `null` resolve later.
    Plain(String),
    Quoted(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn get(&self, key: &str) -> &Yaml {
        match self {
            Yaml::Map(entries) => (entries.iter())
                .find(|(k, _)| k == key)
                .map_or(&Yaml::Null, |(_, v)| v),
            _ => &Yaml::Null,
        }
    }

    fn str(&self) -> &str {
        match self {
            Yaml::Plain(s) | Yaml::Quoted(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn list(&self) -> &[Yaml] {
        match self {
            Yaml::List(items) => items,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Yaml::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    /// As JSON, plain scalars resolved the way YAML's core schema does.
    fn to_json(&self) -> Value {
        match self {
            Yaml::Null => Value::Null,
            Yaml::Quoted(s) => json!(s),
            Yaml::Plain(s) => match s.as_str() {
                "null" | "~" => Value::Null,
                "true" => json!(true),
                "false" => json!(false),
                _ => s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)),
            },
            Yaml::List(items) => items.iter().map(Yaml::to_json).collect(),
            Yaml::Map(entries) => Value::Object(
                (entries.iter())
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses block mappings and sequences, quoted and plain scalars and flow
/// sequences of scalars; panics on anything else (anchors, multi-line
/// strings, flow mappings, tabs), so a file it accepts means what it says.
fn parse_yaml(text: &str) -> Yaml {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        assert!(!raw.contains('\t'), "line {}: a tab", n + 1);
        let body = raw.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        assert!(!body.contains(" #"), "line {}: an inline comment", n + 1);
        let indent = raw.len() - body.len();
        // `- key: value` is an item holding a mapping that goes on below.
        match body.strip_prefix("- ") {
            Some(rest) if map_entry(rest).is_some() => {
                lines.push((indent, "-".to_owned()));
                lines.push((indent + 2, rest.to_owned()));
            }
            _ => lines.push((indent, body.to_owned())),
        }
    }
    let mut pos = 0;
    let doc = block(&lines, &mut pos, 0);
    assert_eq!(pos, lines.len(), "unparsed from {:?}", lines.get(pos));
    doc
}

/// `key: rest` or `key:` with a plain key.
fn map_entry(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = match line.split_once(": ") {
        Some((k, r)) => (k, r.trim()),
        None => (line.strip_suffix(':')?, ""),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    (!key.is_empty() && key.chars().all(plain)).then_some((key, rest))
}

fn block(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Yaml {
    let is_item = |l: &(usize, String)| l.1 == "-" || l.1.starts_with("- ");
    if lines.get(*pos).is_some_and(is_item) {
        let mut items = Vec::new();
        while let Some(line) = lines.get(*pos).filter(|l| l.0 == indent && is_item(l)) {
            *pos += 1;
            items.push(match line.1.strip_prefix("- ") {
                Some(scalar_text) => scalar(scalar_text),
                None => nested(lines, pos, indent).expect("an item's content"),
            });
        }
        return Yaml::List(items);
    }
    let mut entries: Vec<(String, Yaml)> = Vec::new();
    while let Some(line) = lines.get(*pos).filter(|l| l.0 == indent && !is_item(l)) {
        let (key, rest) =
            map_entry(&line.1).unwrap_or_else(|| panic!("not a `key: value` line: {:?}", line.1));
        *pos += 1;
        let value = if rest.is_empty() {
            nested(lines, pos, indent).unwrap_or(Yaml::Null)
        } else {
            scalar(rest)
        };
        assert!(entries.iter().all(|(k, _)| k != key), "duplicate key {key}");
        entries.push((key.to_owned(), value));
    }
    if let Some(line) = lines.get(*pos).filter(|l| l.0 > indent) {
        panic!("unexpected indentation: {:?}", line.1);
    }
    Yaml::Map(entries)
}

/// The block below a `key:` or `-` line, if it is indented further.
fn nested(lines: &[(usize, String)], pos: &mut usize, indent: usize) -> Option<Yaml> {
    let deeper = lines.get(*pos).filter(|l| l.0 > indent)?.0;
    Some(block(lines, pos, deeper))
}

fn scalar(text: &str) -> Yaml {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Yaml::List(inner.split(',').map(|s| scalar(s.trim())).collect());
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        assert!(
            !inner.contains(['"', '\\']),
            "escapes are not supported: {text}"
        );
        return Yaml::Quoted(inner.to_owned());
    }
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Yaml::Quoted(inner.replace("''", "'"));
    }
    assert!(
        !text.starts_with(['{', '&', '*', '!', '|', '>', '"', '\'']),
        "unsupported YAML: {text}"
    );
    Yaml::Plain(text.to_owned())
}

/// PyYAML's reading of `path` as JSON, when python3 has it.
fn pyyaml(path: &Path) -> Option<Value> {
    let out = duct::cmd!(
        "python3",
        "-c",
        "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        path
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .ok()?;
    if !out.status.success() {
        eprintln!(
            "python3 with yaml is not usable here, the cross-check is skipped: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("PyYAML printed JSON"))
}

#[test]
fn yaml_subset_parser_reads_what_it_claims() {
    let doc = parse_yaml(
        "# c\na:\n  b: \"x:y\"\n  c: [\"/bin/sh\", run]\n  d:\n    - one\n    - k: v\n      l: 'it''s'\n  e:\nf: true\n",
    );
    assert_eq!(
        doc.to_json(),
        json!({"a": {"b": "x:y", "c": ["/bin/sh", "run"], "d": ["one", {"k": "v", "l": "it's"}], "e": null}, "f": true})
    );
    for bad in [
        "a:\n  b: 1\n c: 2\n",
        "a: &x 1\n",
        "a: 1 # c\n",
        "a: 1\na: 2\n",
        "- a\nb: 1\n",
    ] {
        let parsed = std::panic::catch_unwind(|| parse_yaml(bad));
        assert!(parsed.is_err(), "accepted {bad:?}");
    }
}

fn cron_dir() -> PathBuf {
    examples().join("cron")
}

#[test]
fn compose_sidecar_runs_the_crontab_as_the_non_root_user_with_secrets() {
    let dir = cron_dir();
    let path = dir.join("compose.yaml");
    let compose = parse_yaml(&read(&path));
    if let Some(reference) = pyyaml(&path) {
        assert_eq!(
            compose.to_json(),
            reference,
            "the subset parser and PyYAML disagree"
        );
    }
    let services = compose.get("services");
    assert_eq!(services.keys(), ["windmill-git-sync"]);
    let service = services.get("windmill-git-sync");
    assert_eq!(service.get("image").str(), "windmill-git-sync:latest");
    let user = service.get("user").str();
    assert_eq!(user, "10001:10001", "the image's user, never root");

    // configs: each source is declared and its file ships here.
    let mut mounted: BTreeMap<String, String> = BTreeMap::new();
    for c in service.get("configs").list() {
        let source = c.get("source").str();
        let file = compose.get("configs").get(source).get("file").str();
        assert!(
            dir.join(file).is_file(),
            "config {source}: {file} is missing"
        );
        mounted.insert(
            file.trim_start_matches("./").to_owned(),
            c.get("target").str().to_owned(),
        );
    }
    let entrypoint: Vec<&str> = service
        .get("entrypoint")
        .list()
        .iter()
        .map(Yaml::str)
        .collect();
    assert_eq!(entrypoint, ["/bin/sh", mounted["cron.sh"].as_str()]);
    let command: Vec<&str> = service
        .get("command")
        .list()
        .iter()
        .map(Yaml::str)
        .collect();
    assert_eq!(command, [mounted["crontab"].as_str()]);

    // secrets: declared as files, mounted where the config's `_file` keys look.
    let mut secret_targets = Vec::new();
    for s in service.get("secrets").list() {
        let source = s.get("source").str();
        let file = compose.get("secrets").get(source).get("file").str();
        assert!(file.starts_with("./secrets/"), "{file}");
        secret_targets.push(s.get("target").str().to_owned());
    }
    let config: Value = serde_json::from_str(&read(&dir.join("config.json"))).expect("config.json");
    let mut file_keys: Vec<String> = ["windmill_token_file", "git_token_file"]
        .iter()
        .map(|k| {
            config[k]
                .as_str()
                .unwrap_or_else(|| panic!("config.json lacks {k}"))
                .to_owned()
        })
        .collect();
    file_keys.sort();
    secret_targets.sort();
    assert_eq!(file_keys, secret_targets);
    assert!(config.get("windmill_token").is_none() && config.get("git_token").is_none());

    // The persistent volume holds the work_dir and the result file.
    let volumes: Vec<&str> = service
        .get("volumes")
        .list()
        .iter()
        .map(Yaml::str)
        .collect();
    let (volume, target) = volumes[0].split_once(':').expect("volume:target");
    assert_eq!(target, "/workspace");
    assert!(compose.get("volumes").keys().contains(&volume));
    let work_dir = config["work_dir"].as_str().expect("work_dir");
    assert!(work_dir.starts_with("/workspace/"), "{work_dir}");
    for network in service.get("networks").list() {
        assert!(compose.get("networks").keys().contains(&network.str()));
    }

    // The crontab is valid and its one job runs the tool with that config.
    let crontab = dir.join("crontab");
    let due = cron(&["--due", &crontab.to_string_lossy(), "17 04 09 06 2"]);
    assert_eq!(due.code, 0, "{}", due.dump());
    let line = due.stdout.trim();
    let expected = format!(
        "windmill-git-sync --config {} --result-file /workspace/last-result.json",
        mounted["config.json"]
    );
    assert_eq!(line, expected);
    let not_due = cron(&["--due", &crontab.to_string_lossy(), "18 04 09 06 2"]);
    assert_eq!(
        (not_due.code, not_due.stdout.as_str()),
        (0, ""),
        "{}",
        not_due.dump()
    );
}

/// `sh examples/cron/cron.sh ARGS`.
fn cron(args: &[&str]) -> Outcome {
    let script = cron_dir().join("cron.sh");
    let started = Instant::now();
    let out = duct::cmd(
        "sh",
        std::iter::once(script.as_os_str()).chain(args.iter().map(|a| a.as_ref())),
    )
    .stdin_null()
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .expect("run sh");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: Value::Null,
        duration: started.elapsed(),
        command: format!("sh cron.sh {}", args.join(" ")),
    }
}

#[test]
fn cron_scheduler_matches_times_like_cron() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crontab = dir.path().join("crontab");
    std::fs::write(
        &crontab,
        "# comment\n\
         17 * * * * echo  hourly  at 17\n\
         */15 9-17 * * 1-5 echo office\n\
         @daily echo daily\n\
         0 0 13 * 5 echo friday or 13th\n\
         0 12 * * 7 echo sunday noon\n\
         5,35 0/6 1 1,7 * echo list\n",
    )
    .expect("write crontab");
    let tab = crontab.to_string_lossy().into_owned();
    // (minute hour day month weekday, the commands due then)
    let cases: &[(&str, &[&str])] = &[
        ("17 03 01 01 1", &["echo  hourly  at 17"]),
        ("16 03 01 01 1", &[]),
        ("45 17 02 01 5", &["echo office"]),
        ("45 17 03 01 6", &[]),
        ("00 00 13 06 3", &["echo daily", "echo friday or 13th"]),
        ("00 00 14 06 5", &["echo daily", "echo friday or 13th"]),
        ("00 00 14 06 4", &["echo daily"]),
        ("00 12 05 01 0", &["echo sunday noon"]),
        ("35 18 01 07 2", &["echo list"]),
        ("35 19 01 07 2", &[]),
    ];
    for (now, want) in cases {
        let out = cron(&["--due", &tab, now]);
        assert_eq!(out.code, 0, "{}", out.dump());
        let got: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(got, *want, "at {now}");
    }
    for bad in [
        "61 * * * * x",
        "* * * * no-command",
        "1,,2 * * * * x",
        "*/0 * * * * x",
        "5-1 * * * * x",
    ] {
        std::fs::write(&crontab, format!("{bad}\n")).expect("write crontab");
        let out = cron(&["--check", &tab]);
        assert_eq!(out.code, 1, "accepted {bad:?}\n{}", out.dump());
        assert!(out.stderr.contains(":1:"), "{}", out.dump());
    }
    assert_eq!(
        cron(&["--check", &cron_dir().join("crontab").to_string_lossy()]).code,
        0
    );
}

// ---------------------------------------------------------------------------
// Every config example loads and passes `--check` with its own keys.

/// Every key of the config (SPEC 2), secrets in either form.
const CONFIG_KEYS: &[&str] = &[
    "windmill_token",
    "windmill_base_url",
    "workspace",
    "git_remote_url",
    "git_token",
    "git_username",
    "git_branch",
    "git_user_name",
    "git_user_email",
    "repo_subdir",
    "commit_message",
    "work_dir",
    "wmill_path",
    "include_secrets",
    "include_schedules",
    "include_triggers",
    "include_users",
    "include_groups",
    "include_settings",
    "includes",
    "excludes",
    "pull_timeout_secs",
    "git_timeout_secs",
    "lock_timeout_secs",
    "max_delete_ratio",
    "allow_mass_delete",
    "secret_scan",
    "secret_scan_allow",
];

#[test]
fn full_config_shows_every_key() {
    let full: Value =
        serde_json::from_str(&read(&examples().join("config/full.json"))).expect("JSON");
    for key in CONFIG_KEYS {
        let file_key = format!("{key}_file");
        assert!(
            full.get(key).is_some() || full.get(&file_key).is_some(),
            "full.json lacks {key}"
        );
    }
    for secret in ["windmill_token", "git_token"] {
        assert!(
            full.get(secret).is_none(),
            "full.json gives {secret} inline, not by file"
        );
    }
}

#[test]
fn config_examples_pass_the_check_with_their_own_keys() {
    let standin = WindmillStandIn::start(TOKEN, WS, Workspace::sample());
    let repos = tempfile::tempdir().expect("tempdir");
    init_bare(&repos.path().join("backup.git"));
    let git_server = GitHttpServer::start(repos.path(), GIT_USER, GIT_TOKEN);
    let bin = tool_bin_dir();
    let secrets = tempfile::tempdir().expect("tempdir");
    let windmill_token_file = secrets.path().join("windmill_token");
    let git_token_file = secrets.path().join("git_token");
    std::fs::write(&windmill_token_file, format!("{TOKEN}\n")).expect("write");
    std::fs::write(&git_token_file, format!("{GIT_TOKEN}\n")).expect("write");
    for example in [
        "config/minimal.json",
        "config/full.json",
        "cron/config.json",
    ] {
        let mut config: Value =
            serde_json::from_str(&read(&examples().join(example))).expect("JSON");
        let work = tempfile::tempdir().expect("tempdir");
        // Only the keys that name places on the machine change.
        let places = json!({
            "windmill_base_url": standin.base_url(),
            "workspace": WS,
            "windmill_token": TOKEN,
            "windmill_token_file": windmill_token_file,
            "git_remote_url": git_server.url("backup.git"),
            "git_token": GIT_TOKEN,
            "git_token_file": git_token_file,
            "work_dir": work.path().join("repo"),
            "wmill_path": wmill_path(),
        });
        let object = config.as_object_mut().expect("an object");
        for (key, value) in places.as_object().expect("an object") {
            if let Some(slot) = object.get_mut(key) {
                *slot = value.clone();
            }
        }
        let out = Tool::new()
            .path_prepend(bin.path())
            .config(config)
            .arg("--check")
            .run();
        assert_eq!(
            out.json["error"]["kind"],
            Value::Null,
            "{example}\n{}",
            out.dump()
        );
        out.assert_code(0);
        assert_eq!(out.json["status"], "checked", "{example}\n{}", out.dump());
    }
}

// ---------------------------------------------------------------------------

#[test]
fn shell_examples_parse_and_pass_shellcheck() {
    let scripts = [
        ("bash", "windmill/f/git_sync/backup.sh"),
        ("bash", "windmill/f/git_sync/backup_docker.sh"),
        (
            "bash",
            "windmill/f/git_sync/backup_flow.flow/report_the_failure.inline_script.sh",
        ),
        ("sh", "cron/cron.sh"),
    ];
    let shellcheck = find_on_path("shellcheck");
    if shellcheck.is_none() {
        eprintln!("shellcheck is not installed: only the syntax is checked");
    }
    for (shell, name) in scripts {
        let path = examples().join(name);
        let syntax = duct::cmd!(shell, "-n", &path)
            .stderr_capture()
            .unchecked()
            .run()
            .expect("run the shell");
        assert!(
            syntax.status.success(),
            "{shell} -n {name}: {}",
            String::from_utf8_lossy(&syntax.stderr)
        );
        if let Some(shellcheck) = &shellcheck {
            let lint = duct::cmd!(shellcheck, &path)
                .stdout_capture()
                .unchecked()
                .run()
                .expect("run shellcheck");
            assert!(
                lint.status.success(),
                "shellcheck {name}:\n{}",
                String::from_utf8_lossy(&lint.stdout)
            );
        }
    }
}
