use serde_json::json;

use super::rules::normalise_subdir;
use super::*;

fn env() -> Env {
    Env::default()
}

fn load_json(v: serde_json::Value) -> Result<Loaded, Problems> {
    load(v.to_string().as_bytes(), &env(), Path::new("/base"))
}

fn minimal() -> serde_json::Value {
    json!({"windmill_token": "wm-token-123", "git_remote_url": "https://git.example.com/o/r.git", "git_token": "git-token-456"})
}

#[test]
fn minimal_config_gets_the_defaults() {
    let c = load_json(minimal()).map(|l| l.config);
    let c = c.as_ref().map_err(|p| p.message());
    let Ok(c) = c else { panic!("{c:?}") };
    assert_eq!(c.windmill_base_url.as_str(), "http://windmill_server:8000/");
    assert_eq!(c.workspace, "admins");
    assert_eq!(c.git_branch, "main");
    assert_eq!(c.git_username, "x-access-token");
    assert_eq!(c.repo_subdir, "");
    assert_eq!(
        (c.pull_timeout_secs, c.git_timeout_secs, c.lock_timeout_secs),
        (240, 120, 60)
    );
    assert!(c.scope.include_schedules && c.scope.include_triggers && !c.scope.include_secrets);
    assert_eq!(c.secret_scan, SecretScan::Block);
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = load_json(json!({
        "git_remote_url": "https://u:p@h/r.git",
        "git_branch": "wm-fork/x",
        "pull_timeout_secs": 0,
        "include_users": "yes",
        "repo_subdir": "../x",
        "git_tokn": "x",
    }))
    .err()
    .map(|p| p.0)
    .unwrap_or_default();
    let all = p.join("\n");
    for key in [
        "windmill_token",
        "git_remote_url",
        "git_branch",
        "pull_timeout_secs",
        "include_users",
        "repo_subdir",
        "git_tokn",
    ] {
        assert!(all.contains(key), "{key} missing from:\n{all}");
    }
    assert!(all.contains("did you mean `git_token`"), "{all}");
}

#[test]
fn both_forms_of_a_secret_are_refused() {
    let mut v = minimal();
    v["git_token_file"] = json!("/nonexistent");
    let p = load_json(v).err().map(|p| p.message()).unwrap_or_default();
    assert!(p.contains("either `git_token` or `git_token_file`"), "{p}");
}

#[test]
fn secret_file_loses_one_trailing_newline() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("tempdir") };
    let f = dir.path().join("tok");
    std::fs::write(&f, "from-file-token\n").unwrap_or_default();
    let mut v = minimal();
    v.as_object_mut().map(|o| o.remove("git_token"));
    v["git_token_file"] = json!(f);
    let c = load_json(v).map(|l| l.config.git_token.map(|t| t.expose().to_string()));
    assert_eq!(c.ok().flatten().as_deref(), Some("from-file-token"));
}

#[test]
fn job_token_stands_in_inside_windmill() {
    let mut e = Env::default();
    e.vars.insert("WM_TOKEN".into(), "job-token-abc".into());
    e.vars.insert("WM_WORKSPACE".into(), "prod".into());
    e.vars.insert(
        "BASE_INTERNAL_URL".into(),
        "http://windmill_server:8000".into(),
    );
    let v = json!({"git_remote_url": "/srv/r.git"});
    let l = load(v.to_string().as_bytes(), &e, Path::new("/"));
    let Ok(l) = l else { panic!("{l:?}") };
    assert_eq!(l.config.workspace, "prod");
    assert_eq!(l.config.windmill_token.expose(), "job-token-abc");
    assert!(l.warnings.iter().any(|w| w.contains("WM_TOKEN")));

    let other = json!({"git_remote_url": "/srv/r.git", "workspace": "other"});
    let p = load(other.to_string().as_bytes(), &e, Path::new("/"))
        .err()
        .map(|p| p.message());
    assert!(p.unwrap_or_default().contains("windmill_token"));
}

#[test]
fn malformed_input_is_a_problem_not_a_panic() {
    for bytes in [
        &b""[..],
        b"{",
        b"[]",
        b"\xff\xfe",
        b"{\"a\":1}{",
        b"null",
        b"\"x\"",
    ] {
        assert!(load(bytes, &env(), Path::new("/")).is_err(), "{bytes:?}");
    }
}

#[test]
fn branch_rules() {
    for ok in ["main", "backup/windmill", "release-1.0"] {
        assert_eq!(check_branch(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "-x",
        "a..b",
        "a b",
        "a:b",
        "x/",
        "/x",
        "a.lock",
        ".hidden",
        "a//b",
        "HEAD",
        "wm-fork/x",
        "x.",
        "a@{b",
    ] {
        assert!(check_branch(bad).is_err(), "{bad}");
    }
}

#[test]
fn subdir_rules() {
    assert_eq!(normalise_subdir("./backups//ws/"), Ok("backups/ws".into()));
    for bad in ["/abs", "a/../b", "..", ".git/x", "a\\b"] {
        assert!(normalise_subdir(bad).is_err(), "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = load(&bytes, &env(), Path::new("/"));
    }

    #[test]
    fn any_object_never_panics(keys in proptest::collection::vec("[a-z_]{1,20}", 0..8), vals in proptest::collection::vec(proptest::arbitrary::any::<i64>(), 0..8)) {
        let mut m = serde_json::Map::new();
        for (k, v) in keys.iter().zip(vals.iter()) {
            m.insert(k.clone(), json!(v));
        }
        let _ = load(serde_json::Value::Object(m).to_string().as_bytes(), &env(), Path::new("/"));
    }
}
