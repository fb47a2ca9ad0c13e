//! One-run backups end to end: the real binary, the pinned real wmill, the
//! Windmill stand-in, real git remotes (local bare and smart HTTP).

#![allow(clippy::expect_used)]

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::*;

#[test]
fn wmill_is_the_pinned_version() {
    let pinned: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wmill/package.json"),
        )
        .expect("read package.json"),
    )
    .expect("parse package.json");
    let want = pinned["dependencies"]["windmill-cli"]
        .as_str()
        .expect("pinned version");
    assert_eq!(wmill_installed_version(), want);
}

#[test]
fn first_run_into_an_empty_remote_pushes_the_workspace() {
    let s = Setup::new(Workspace::sample());
    let out = s.run(s.config());
    out.assert_code(0);
    let r = &out.json;
    assert_eq!(r["status"], "pushed", "{}", out.dump());
    assert_eq!(r["success"], true);
    assert_eq!(r["workspace"], WS);
    assert_eq!(r["branch"], "main");
    assert_eq!(r["attempts"], json!({"pull": 1, "push": 1}));
    let commit = r["commit"].as_str().expect("commit sha");
    assert_eq!(tip(&s.remote, "main").as_deref(), Some(commit));
    assert_eq!(commit_count(&s.remote, "main"), 1);
    let tree = tree_files(&s.remote, "main");
    assert!(tree.contains_key("wmill.yaml") && tree.contains_key("wmill-lock.yaml"));
    let added = r["changes"]["added"].as_u64().expect("added");
    // Every pushed file but the two bookkeeping files is reported as added.
    assert_eq!(added as usize, tree.len() - 2, "{}", out.dump());
    assert_eq!(r["changes"]["modified"], 0);
    assert_eq!(r["changes"]["deleted"], 0);
    // The commit body lists what changed.
    let body = git(&s.remote, &["log", "-1", "--format=%B", "main"]);
    assert!(
        body.starts_with("Automated Windmill workspace backup - sample\n"),
        "{body}"
    );
    assert!(body.contains("A f/ops/job_1.sh"), "{body}");
    // SPEC 5: the place equals a plain pull into an empty folder.
    let reference = s.plain_pull(&tree["wmill.yaml"]);
    assert_eq!(
        without_bookkeeping(&tree, ""),
        without_bookkeeping(&reference, "")
    );
}

#[test]
fn no_change_makes_no_commit() {
    let s = Setup::new(Workspace::sample());
    s.run(s.config()).assert_code(0);
    let first = tip(&s.remote, "main");
    let out = s.run(s.config());
    out.assert_code(0);
    assert_eq!(out.json["status"], "no_changes", "{}", out.dump());
    assert_eq!(out.json["commit"].as_str(), first.as_deref());
    assert_eq!(out.json["changes"]["paths"], json!([]));
    assert_eq!(commit_count(&s.remote, "main"), 1);
}

#[test]
fn edits_additions_and_deletions_arrive_as_such() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let config = s.with(json!({"work_dir": work_dir}));
    s.run(config.clone()).assert_code(0);
    s.windmill.update(|ws| {
        ws.script("f/ops/job_1", "bash", "echo edited\n");
        ws.script("f/ops/brand_new", "bash", "echo new\n");
        ws.remove("f/ops/job_2");
    });
    let out = s.run(config);
    out.assert_code(0);
    let c = &out.json["changes"];
    let paths: Vec<(String, String)> = c["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| {
            (
                p["change"].as_str().unwrap_or("").into(),
                p["path"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        paths.contains(&("modified".into(), "f/ops/job_1.sh".into())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&("added".into(), "f/ops/brand_new.sh".into())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&("added".into(), "f/ops/brand_new.script.yaml".into())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&("deleted".into(), "f/ops/job_2.sh".into())),
        "{paths:?}"
    );
    assert!(
        paths.contains(&("deleted".into(), "f/ops/job_2.script.yaml".into())),
        "{paths:?}"
    );
    assert_eq!(c["deleted"].as_u64(), Some(2), "{}", out.dump());
    let tree = tree_files(&s.remote, "main");
    assert_eq!(tree["f/ops/job_1.sh"], b"echo edited\n");
    assert!(!tree.contains_key("f/ops/job_2.sh"));
    assert_eq!(commit_count(&s.remote, "main"), 2);
    let body = git(&s.remote, &["log", "-1", "--format=%B", "main"]);
    for line in [
        "M f/ops/job_1.sh",
        "A f/ops/brand_new.sh",
        "D f/ops/job_2.sh",
    ] {
        assert!(body.contains(line), "{line} missing from {body}");
    }
}

#[test]
fn the_repos_own_files_survive_at_the_root() {
    let s = Setup::new(Workspace::sample());
    let own = [
        ("README.md", "# Our Windmill backup\n"),
        (".ci/run", "#!/bin/sh\necho ci\n"),
        (".github/workflows/check.yml", "on: push\n"),
        ("docs/notes.py", "print('not windmill')\n"),
        (".gitattributes", "* text=auto\n"),
    ];
    commit_files(&s.remote, "main", &own, "Add the repo's own files");
    let out = s.run(s.config());
    out.assert_code(0);
    let tree = tree_files(&s.remote, "main");
    for (path, content) in own {
        assert_eq!(
            tree.get(path).map(Vec::as_slice),
            Some(content.as_bytes()),
            "{path}"
        );
    }
    assert_eq!(commit_count(&s.remote, "main"), 2);
    // The CRLF script stays byte-exact despite `* text=auto`.
    assert!(
        tree["u/admin/notes.sh"].windows(2).any(|w| w == b"\r\n"),
        "CRLF lost"
    );
    let reference = s.plain_pull(&tree["wmill.yaml"]);
    let place: std::collections::BTreeMap<_, _> = without_bookkeeping(&tree, "")
        .into_iter()
        .filter(|(k, _)| !own.iter().any(|(p, _)| p == k))
        .collect();
    assert_eq!(place, without_bookkeeping(&reference, ""));
}

#[test]
fn a_missing_branch_is_created_holding_only_the_place() {
    let s = Setup::new(Workspace::sample());
    let main = commit_files(&s.remote, "main", &[("README.md", "main branch\n")], "Init");
    let out = s.run(s.with(json!({"git_branch": "windmill/backup"})));
    out.assert_code(0);
    assert_eq!(out.json["branch"], "windmill/backup");
    assert_eq!(tip(&s.remote, "main"), Some(main));
    assert_eq!(commit_count(&s.remote, "windmill/backup"), 1);
    let tree = tree_files(&s.remote, "windmill/backup");
    assert!(!tree.contains_key("README.md"));
    assert!(tree.contains_key("f/ops/job_1.sh"));
}

#[test]
fn repo_subdir_with_a_path_prefixed_base_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = dir.path().join("remote.git");
    init_bare(&remote);
    let windmill = WindmillStandIn::start_with_prefix(TOKEN, WS, Workspace::sample(), "/windmill");
    assert!(windmill.base_url().ends_with("/windmill/"));
    commit_files(
        &remote,
        "main",
        &[
            ("README.md", "top\n"),
            ("f/not_ours.sh", "echo outside the place\n"),
        ],
        "Init",
    );
    // Given without its trailing slash: the tool must add it (wmill chops one character).
    let base = windmill.base_url().trim_end_matches('/').to_string();
    let config = json!({
        "windmill_token": TOKEN,
        "windmill_base_url": base,
        "workspace": WS,
        "git_remote_url": remote,
        "wmill_path": wmill_path(),
        "repo_subdir": "backups/prod/",
    });
    let out = Tool::new().config(config.clone()).run();
    out.assert_code(0);
    let tree = tree_files(&remote, "main");
    assert_eq!(tree["README.md"], b"top\n");
    assert_eq!(tree["f/not_ours.sh"], b"echo outside the place\n");
    assert!(tree.contains_key("backups/prod/f/ops/job_1.sh"));
    assert!(tree.contains_key("backups/prod/wmill.yaml"));
    assert!(
        !tree.keys().any(|k| k.starts_with("u/")),
        "nothing outside the place"
    );
    let paths = out.json["changes"]["paths"].as_array().expect("paths");
    assert!(paths.iter().all(|p| p["path"]
        .as_str()
        .unwrap_or("")
        .starts_with("backups/prod/")));
    assert!(
        windmill
            .requests()
            .iter()
            .all(|r| r.url.starts_with("/windmill/api/")),
        "{:?}",
        windmill.requests()
    );
    // A second run finds nothing to do.
    let again = Tool::new().config(config).run();
    again.assert_code(0);
    assert_eq!(again.json["status"], "no_changes", "{}", again.dump());
}

#[test]
fn a_wrong_windmill_token_fails_with_3_and_leaves_the_remote() {
    let s = Setup::new(Workspace::sample());
    let before = commit_files(&s.remote, "main", &[("README.md", "x\n")], "Init");
    let out = s.run(s.with(json!({"windmill_token": "wrong-token-Zq81"})));
    out.assert_code(3);
    assert_eq!(out.json["status"], "failed");
    assert_eq!(out.json["error"]["kind"], "windmill");
    assert!(
        out.json["error"]["hint"]
            .as_str()
            .unwrap_or("")
            .contains("windmill_token"),
        "{}",
        out.dump()
    );
    assert_eq!(
        out.json["attempts"]["pull"], 3,
        "a bad token is retried (wmill cannot tell it from a 500)"
    );
    assert_eq!(tip(&s.remote, "main"), Some(before));
    assert!(!out.stdout.contains("wrong-token-Zq81") && !out.stderr.contains("wrong-token-Zq81"));
}

#[test]
fn an_unknown_workspace_is_not_retried() {
    let s = Setup::new(Workspace::sample());
    let out = s.run(s.with(json!({"workspace": "nope"})));
    out.assert_code(3);
    assert_eq!(out.json["attempts"]["pull"], 1, "{}", out.dump());
    assert!(out.json["error"]["hint"]
        .as_str()
        .unwrap_or("")
        .contains("workspace"));
}

#[test]
fn a_missing_wmill_is_a_windmill_error() {
    let s = Setup::new(Workspace::sample());
    let out = s.run(s.with(json!({"wmill_path": "/nonexistent/wmill"})));
    out.assert_code(3);
    assert!(out.json["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("/nonexistent/wmill"));
}

#[test]
fn an_internal_failure_exits_1_and_says_so() {
    // No private directory can be made under a TMPDIR that does not exist:
    // the one way to reach exit 1 from outside without a bug.
    let s = Setup::new(Workspace::sample());
    let out = Tool::new()
        .env("TMPDIR", "/nonexistent/tmp")
        .config(s.config())
        .run();
    out.assert_code(1);
    assert_eq!(out.json["status"], "failed", "{}", out.dump());
    assert_eq!(out.json["error"]["kind"], "internal", "{}", out.dump());
    let message = out.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("internal error"), "{message}");
    assert!(message.contains("temporary directory"), "{message}");
    let hint = out.json["error"]["hint"].as_str().unwrap_or("");
    assert!(hint.contains("TMPDIR"), "{hint}");
    assert_eq!(git(&s.remote, &["for-each-ref"]), "", "nothing pushed");
}

#[test]
fn over_authenticated_http_the_token_works_and_a_wrong_one_fails_with_4() {
    let s = Setup::new(Workspace::sample());
    let root = s.path("http-root");
    init_bare(&root.join("backup.git"));
    let git_token = "git-token-Pq93LmZ2";
    let server = GitHttpServer::start(&root, "x-access-token", git_token);
    let base = s.with(json!({"git_remote_url": server.url("backup.git")}));

    let mut wrong = base.clone();
    wrong["git_token"] = json!("bad-token-Vv71Kd");
    let out = s.run(wrong);
    out.assert_code(4);
    assert_eq!(out.json["error"]["kind"], "git");
    assert!(
        out.json["error"]["hint"]
            .as_str()
            .unwrap_or("")
            .contains("git_token"),
        "{}",
        out.dump()
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("bad-token-Vv71Kd"), "{}", out.dump());
    }

    let mut right = base;
    right["git_token"] = json!(git_token);
    let work_dir = s.path("work");
    right["work_dir"] = json!(work_dir);
    let out = s.run(right);
    out.assert_code(0);
    assert_eq!(out.json["status"], "pushed", "{}", out.dump());
    assert!(tip(&root.join("backup.git"), "main").is_some());
    assert!(!out.stdout.contains(git_token) && !out.stderr.contains(git_token));
    let config = std::fs::read_to_string(work_dir.join(".git/config")).expect("read .git/config");
    assert!(!config.contains(git_token), "{config}");
    assert_eq!(out.json["remote"], server.url("backup.git"));
}

#[test]
fn bad_configs_exit_2_naming_every_problem() {
    let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
        (b"{not json".to_vec(), vec!["not valid JSON"]),
        (b"".to_vec(), vec!["empty"]),
        (b"[1,2]".to_vec(), vec!["JSON object"]),
        (br#"{"git_remote_url": 5}"#.to_vec(), vec!["git_remote_url", "windmill_token"]),
        (
            br#"{"windmill_token": "t-12345678", "git_remote_url": "https://h/r.git", "git_brnch": "x", "include_users": "yes", "pull_timeout_secs": -1}"#.to_vec(),
            vec!["git_brnch", "did you mean `git_branch`", "include_users", "pull_timeout_secs", "git_token"],
        ),
        (
            br#"{"windmill_token": "t-12345678", "git_remote_url": "https://u:p4ss@h/r.git", "git_token": "x"}"#.to_vec(),
            vec!["credentials", "git_token"],
        ),
    ];
    for (input, needles) in cases {
        let out = Tool::new().stdin_bytes(input.clone()).run();
        out.assert_code(2);
        assert_eq!(out.json["error"]["kind"], "config", "{}", out.dump());
        let message = out.json["error"]["message"].as_str().unwrap_or("");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{needle:?} not in {message:?} for {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        assert!(!out.stdout.contains("p4ss"));
    }
}

#[test]
fn usage_errors_still_print_the_result_json() {
    let out = Tool::new()
        .arg("--no-such-flag")
        .stdin_bytes(b"{}".to_vec())
        .run();
    out.assert_code(2);
    assert_eq!(out.json["error"]["kind"], "config", "{}", out.dump());
    let help = Tool::new().arg("--help").run();
    help.assert_code(0);
    assert!(help.stdout.contains("Exit codes"));
}

#[test]
fn dry_run_leaves_the_remote_and_work_dir_as_they_were() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let config = s.with(json!({"work_dir": work_dir}));
    s.run(config.clone()).assert_code(0);
    let before_tip = tip(&s.remote, "main");
    let snapshot = |dir: &Path| (files_of(dir), git(dir, &["rev-parse", "HEAD"]));
    let before = snapshot(&work_dir);
    s.windmill.update(|ws| {
        ws.script("f/ops/job_1", "bash", "echo changed for the dry run\n");
    });
    let out = Tool::new().config(config).arg("--dry-run").run();
    out.assert_code(0);
    assert_eq!(out.json["status"], "dry_run", "{}", out.dump());
    let paths = out.json["changes"]["paths"].to_string();
    assert!(paths.contains("\"f/ops/job_1.sh\""), "{}", out.dump());
    assert_eq!(out.json["changes"]["added"], 0);
    assert_eq!(tip(&s.remote, "main"), before_tip);
    assert_eq!(snapshot(&work_dir), before, "work_dir changed");
}

#[test]
fn a_commit_pushed_by_someone_else_meanwhile_is_kept_under_ours() {
    let s = Setup::new(Workspace::sample());
    commit_files(&s.remote, "main", &[("README.md", "v1\n")], "Init");
    // wmill stand-in: before pulling, someone edits the README on the remote
    // (after our fetch, before our push).
    let shim = s.path("wmill-then-push");
    let other = s.path("other-clone");
    git(
        s.dir.path(),
        &[
            "clone",
            "--quiet",
            s.remote.to_str().expect("utf8"),
            other.to_str().expect("utf8"),
        ],
    );
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nset -e\nif [ ! -e '{other}/pushed' ]; then\n  cd '{other}'\n  printf 'v2\\n' > README.md\n  git -c user.name=Person -c user.email=p@example.com commit -qam 'Edit README by hand'\n  git push -q origin HEAD:main\n  touch pushed\n  cd - >/dev/null\nfi\nexec '{wmill}' \"$@\"\n",
            other = other.display(),
            wmill = wmill_path().display()
        ),
    )
    .expect("write shim");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&shim).expect("meta").permissions(),
        0o755,
    );
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = s.run(s.with(json!({"wmill_path": shim})));
    out.assert_code(0);
    assert_eq!(out.json["status"], "pushed", "{}", out.dump());
    assert_eq!(out.json["attempts"]["push"], 2, "{}", out.dump());
    assert_eq!(
        log_subjects(&s.remote, "main"),
        vec![
            "Automated Windmill workspace backup - sample".to_string(),
            "Edit README by hand".to_string(),
            "Init".to_string(),
        ]
    );
    let tree = tree_files(&s.remote, "main");
    assert_eq!(tree["README.md"], b"v2\n");
    assert!(tree.contains_key("f/ops/job_1.sh"));
}

#[test]
fn result_file_and_log_levels() {
    let s = Setup::new(Workspace::sample());
    let result = s.path("result.json");
    let out = Tool::new()
        .config(s.config())
        .arg("--result-file")
        .arg(result.to_str().expect("utf8"))
        .run();
    out.assert_code(0);
    let written = std::fs::read_to_string(&result).expect("result file");
    assert_eq!(written, out.stdout, "the result file holds the stdout line");
    assert_eq!(out.stdout.lines().count(), 1);
    assert!(
        out.stderr.contains(" INFO ") && !out.stderr.contains(" DEBUG "),
        "{}",
        out.stderr
    );

    let quiet = Tool::new()
        .config(s.config())
        .arg("-q")
        .env("RUST_LOG", "debug")
        .run();
    quiet.assert_code(0);
    assert!(
        !quiet.stderr.contains(" INFO ") && !quiet.stderr.contains(" DEBUG "),
        "flags win over RUST_LOG: {}",
        quiet.stderr
    );

    let from_env = Tool::new()
        .config(s.config())
        .env("RUST_LOG", "debug")
        .run();
    assert!(
        from_env.stderr.contains(" DEBUG run git"),
        "{}",
        from_env.stderr
    );

    let verbose = Tool::new().config(s.config()).arg("-v").run();
    assert!(verbose.stderr.contains(" DEBUG run git") && !verbose.stderr.contains(" TRACE "));
    assert!(
        verbose.stderr.contains("peak RSS: self"),
        "{}",
        verbose.stderr
    );

    let missing_dir = Tool::new()
        .config(s.config())
        .arg("--result-file")
        .arg("/nonexistent/dir/result.json")
        .run();
    missing_dir.assert_code(2);
}

#[test]
fn the_logged_peak_memory_is_the_tools_own() {
    // 256 MiB resident in the process that starts the tool: Linux hands
    // the peak of the image `exec` replaces on to the new program's
    // `ru_maxrss`, and none of it is ours to report.
    let ballast = vec![7u8; 256 << 20];
    let out = Tool::new().config(json!({})).arg("-v").run();
    out.assert_code(2);
    let line = (out.stderr.lines())
        .find(|l| l.contains("peak RSS: self "))
        .unwrap_or_else(|| panic!("no peak line: {}", out.stderr));
    let own: u64 = line
        .split("peak RSS: self ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable peak line: {line}"));
    assert!(own < 64 * 1024, "our peak is {own} KiB: {line}");
    assert!(std::hint::black_box(&ballast)
        .iter()
        .step_by(4096)
        .all(|&b| b == 7));
}

#[test]
fn the_scope_reaches_wmill_and_a_changed_scope_pulls_the_place_afresh() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let base = s.with(json!({"work_dir": work_dir}));
    s.run(base.clone()).assert_code(0);
    let tree = tree_files(&s.remote, "main");
    assert!(
        !tree.contains_key("f/ops/api_key.variable.yaml"),
        "secrets are skipped by default"
    );
    assert!(
        tree.contains_key("f/ops/every_hour.schedule.yaml"),
        "schedules are included by default"
    );
    let query = |s: &Setup| {
        s.windmill
            .requests()
            .into_iter()
            .rfind(|r| r.is_tarball())
            .map(|r| r.url)
            .unwrap_or_default()
    };
    assert!(
        query(&s).contains("skip_secrets=true") && query(&s).contains("include_schedules=true"),
        "{}",
        query(&s)
    );

    let mut secrets = base.clone();
    secrets["include_secrets"] = json!(true);
    let out = s.run(secrets);
    out.assert_code(0);
    assert!(
        query(&s).contains("skip_secrets=false") && query(&s).contains("plain_secret=false"),
        "{}",
        query(&s)
    );
    let tree = tree_files(&s.remote, "main");
    let secret = String::from_utf8_lossy(&tree["f/ops/api_key.variable.yaml"]).into_owned();
    assert!(
        secret.contains("QhQpdUKBO+rUSjgobcdAFuZPdT3QWjAV2BpPBwShfm8="),
        "the ciphertext is stored: {secret}"
    );
    assert!(String::from_utf8_lossy(&tree["wmill.yaml"]).contains("skipSecrets: false"));

    // Dropping schedules from the scope removes them: wmill alone would leave them.
    let mut no_schedules = base;
    no_schedules["include_schedules"] = json!(false);
    let out = s.run(no_schedules);
    out.assert_code(0);
    let tree = tree_files(&s.remote, "main");
    assert!(
        !tree.contains_key("f/ops/every_hour.schedule.yaml"),
        "{}",
        out.dump()
    );
    assert!(!tree.contains_key("f/ops/api_key.variable.yaml"));
    assert!(tree.contains_key("f/ops/job_1.sh"));
    assert_eq!(
        without_bookkeeping(&tree, ""),
        without_bookkeeping(&s.plain_pull(&tree["wmill.yaml"]), "")
    );
}
