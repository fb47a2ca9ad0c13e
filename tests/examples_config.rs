//! Every config example under `examples/` loads and passes `--check` with
//! its own keys, and the shell examples parse and pass shellcheck.

#![allow(clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::examples::{examples, read, tool_bin_dir, GIT_TOKEN, GIT_USER, TOKEN, WS};
use support::*;

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
        ("bash", "demo.sh"),
        ("bash", "bench.sh"),
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
