//! `--check` proves both ends answer without changing anything, and inside
//! a Windmill job only the git settings are needed (SPEC 3).
#![allow(clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::*;

const GIT_TOKEN: &str = "git-tok-Cc41Nn8";

struct Http {
    s: Setup,
    server: GitHttpServer,
    remote: std::path::PathBuf,
}

fn http() -> Http {
    let s = Setup::new(Workspace::sample());
    let root = s.path("http-root");
    let remote = root.join("r.git");
    init_bare(&remote);
    let server = GitHttpServer::start(&root, "x-access-token", GIT_TOKEN);
    Http { s, server, remote }
}

impl Http {
    fn config(&self, git_token: &str) -> Value {
        self.s
            .with(json!({"git_remote_url": self.server.url("r.git"), "git_token": git_token}))
    }
}

#[test]
fn check_passes_and_changes_nothing() {
    let h = http();
    let out = Tool::new().config(h.config(GIT_TOKEN)).arg("--check").run();
    out.assert_code(0);
    assert_eq!(out.json["status"], "checked", "{}", out.dump());
    assert_eq!(out.json["check"]["windmill"]["ok"], true);
    assert_eq!(out.json["check"]["git"]["ok"], true);
    assert_eq!(tip(&h.remote, "main"), None, "--check created the branch");
    assert!(
        h.s.windmill.tarball_requests() >= 1,
        "Windmill was not asked for the workspace"
    );
    // With a branch there, the check still leaves it as it was.
    let before = commit_files(&h.remote, "main", &[("README.md", "x\n")], "Init");
    let out = Tool::new().config(h.config(GIT_TOKEN)).arg("--check").run();
    out.assert_code(0);
    assert_eq!(tip(&h.remote, "main"), Some(before));
}

#[test]
fn a_read_only_git_token_fails_the_check_with_4() {
    let h = http();
    h.server.add_reader("read-only-tok-77");
    let out = Tool::new()
        .config(h.config("read-only-tok-77"))
        .arg("--check")
        .run();
    out.assert_code(4);
    assert_eq!(out.json["check"]["windmill"]["ok"], true, "{}", out.dump());
    assert_eq!(out.json["check"]["git"]["ok"], false);
    assert!(!out.stdout.contains("read-only-tok-77") && !out.stderr.contains("read-only-tok-77"));
    // The same token can read: the failure is about writing.
    assert!(
        h.server
            .requests()
            .iter()
            .any(|r| r.contains("git-upload-pack") && r.ends_with(" 200")),
        "{:?}",
        h.server.requests()
    );
}

#[test]
fn a_wrong_windmill_token_fails_the_check_with_3() {
    let h = http();
    let mut config = h.config(GIT_TOKEN);
    config["windmill_token"] = json!("not-the-token-1234");
    let out = Tool::new().config(config).arg("--check").run();
    out.assert_code(3);
    assert_eq!(out.json["check"]["windmill"]["ok"], false, "{}", out.dump());
    assert_eq!(out.json["check"]["git"]["ok"], true);
}

#[test]
fn inside_a_windmill_job_only_git_settings_are_needed() {
    let s = Setup::new(Workspace::sample());
    let config = json!({"git_remote_url": s.remote, "wmill_path": wmill_path()});
    let job = |t: Tool| {
        t.env("WM_TOKEN", TOKEN)
            .env("WM_WORKSPACE", WS)
            .env("WM_BASE_URL", "http://127.0.0.1:9/")
            .env("BASE_INTERNAL_URL", &s.windmill.base_url())
            .env("RUST_LOG", "info")
    };
    let out = job(Tool::new().config(config.clone())).run();
    out.assert_code(0);
    assert_eq!(out.json["status"], "pushed", "{}", out.dump());
    assert_eq!(out.json["workspace"], WS);
    assert!(
        out.json["warnings"].to_string().contains("WM_TOKEN"),
        "{}",
        out.dump()
    );
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));

    // A job of another workspace does not lend its token to this one.
    let mut other = config;
    other["workspace"] = json!("another");
    let out = job(Tool::new().config(other)).run();
    out.assert_code(2);
    assert!(out.json["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("windmill_token"));
}
