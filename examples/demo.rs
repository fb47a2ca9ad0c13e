//! A demo of the real tool against a stand-in Windmill (NOT a real Windmill
//! server: a small HTTP server from the test support code that answers the
//! requests `wmill sync pull` makes) and a local bare git repository.
//!
//!   examples/demo.sh                 run the demo: back up, change, back up
//!   examples/demo.sh --serve         only serve the stand-in and a git
//!                                    server on 127.0.0.1, print a config,
//!                                    wait for Ctrl-C (for trying it by hand)
#![allow(clippy::expect_used, dead_code, unused_imports)]

#[path = "../tests/support/git.rs"]
mod git;
#[path = "../tests/support/git_http.rs"]
mod git_http;
#[path = "../tests/support/windmill/mod.rs"]
mod windmill;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use windmill::{WindmillStandIn, Workspace};

const TOKEN: &str = "demo-windmill-token";
const GIT_TOKEN: &str = "demo-git-token";
const WORKSPACE: &str = "demo";

fn main() {
    let serve = std::env::args().any(|a| a == "--serve");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wmill = root.join("tests/wmill/node_modules/.bin/wmill");
    let tool = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("windmill-git-sync")))
        .filter(|p| p.is_file())
        .expect("build the tool first: cargo build (examples/demo.sh does)");
    assert!(
        wmill.is_file(),
        "install the pinned wmill first: npm ci --prefix tests/wmill (examples/demo.sh does)"
    );

    let dir = tempfile::tempdir().expect("temporary directory");
    let windmill = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    if serve {
        return serve_forever(&windmill, dir.path(), &wmill);
    }

    let remote = dir.path().join("backup.git");
    git::init_bare(&remote);
    let config = serde_json::json!({
        "windmill_token": TOKEN,
        "windmill_base_url": windmill.base_url(),
        "workspace": WORKSPACE,
        "git_remote_url": remote,
        "wmill_path": wmill,
        "work_dir": dir.path().join("work"),
    });
    println!(
        "== A stand-in Windmill (not a real server) serves workspace {WORKSPACE:?} at {}",
        windmill.base_url()
    );
    println!(
        "== Backing it up into the bare repository {}\n",
        remote.display()
    );
    run(&tool, &config);
    show(&remote);

    println!("\n== Someone edits f/ops/job_1 and deletes f/ops/job_3 in (stand-in) Windmill; back up again\n");
    windmill.update(|ws| {
        ws.script(
            "f/ops/job_1",
            "bash",
            "name=\"$1\"\necho job 1 says hello to $name\n",
        );
        ws.remove("f/ops/job_3");
    });
    run(&tool, &config);
    show(&remote);

    println!("\n== A third run finds nothing new and makes no commit\n");
    run(&tool, &config);
}

fn run(tool: &Path, config: &serde_json::Value) {
    println!("$ echo '<config>' | windmill-git-sync --config -");
    let mut child = Command::new(tool)
        .args(["--config", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start windmill-git-sync");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(config.to_string().as_bytes())
        .expect("send the config");
    let status = child.wait().expect("wait for windmill-git-sync");
    println!("(exit code {})", status.code().unwrap_or(-1));
}

fn show(remote: &Path) {
    println!("\n$ git log -1 --stat main");
    println!(
        "{}",
        git::git(
            remote,
            &[
                "log",
                "-1",
                "--stat",
                "--format=commit %H%nAuthor: %an <%ae>%n%n    %s%n%n%b",
                "main"
            ]
        )
    );
}

fn serve_forever(windmill: &WindmillStandIn, dir: &Path, wmill: &PathBuf) {
    let repos = dir.join("repos");
    git::init_bare(&repos.join("backup.git"));
    let server = git_http::GitHttpServer::start(&repos, "x-access-token", GIT_TOKEN);
    let config = serde_json::json!({
        "windmill_token": TOKEN,
        "windmill_base_url": windmill.base_url(),
        "workspace": WORKSPACE,
        "git_remote_url": server.url("backup.git"),
        "git_token": GIT_TOKEN,
        "wmill_path": wmill,
    });
    println!(
        "stand-in Windmill (not a real server): {}",
        windmill.base_url()
    );
    println!(
        "git server (Basic auth x-access-token / {GIT_TOKEN}): {}",
        server.url("backup.git")
    );
    println!(
        "bare repository on disk: {}",
        repos.join("backup.git").display()
    );
    println!("config:\n{config}");
    println!("serving until Ctrl-C");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
