//! Never lose history, never leak a token, survive overlapping and
//! interrupted runs: each guarantee of the README's "Guarantees" section,
//! with the real binary, the pinned wmill and real git.
#![allow(clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// A wrapper around a real program that holds the first start whose first
/// argument is `when` (any start when `None`): it writes its pid to
/// `<dir>/reached`, waits for `<dir>/go`, then runs the real program under
/// the same pid. Later starts run freely.
struct Hold {
    dir: PathBuf,
    program: PathBuf,
}

impl Hold {
    fn new(base: &Path, name: &str, real: &Path, when: Option<&str>) -> Hold {
        let dir = base.join(format!("hold-{name}"));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let program = bin.join(name);
        let cond = match when {
            Some(arg) => format!("[ \"$1\" = '{arg}' ]"),
            None => "true".to_string(),
        };
        let d = dir.display();
        let script = format!(
            "#!/bin/sh\nif {cond} && [ ! -e '{d}/passed' ]; then\n  echo $$ > '{d}/reached.tmp' && mv '{d}/reached.tmp' '{d}/reached'\n  while [ ! -e '{d}/go' ]; do sleep 0.02; done\n  touch '{d}/passed'\nfi\nexec '{}' \"$@\"\n",
            real.display()
        );
        std::fs::write(&program, script).expect("write hold script");
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        Hold { dir, program }
    }

    /// The pid of the held start, once it is there.
    fn reached(&self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("reached")) {
                return pid.trim().parse().expect("pid");
            }
            assert!(
                Instant::now() < deadline,
                "the held program was never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn release(&self) {
        std::fs::write(self.dir.join("go"), "").expect("release");
    }

    fn bin_dir(&self) -> &Path {
        self.program.parent().expect("bin dir")
    }
}

fn real_git() -> PathBuf {
    find_on_path("git").expect("git on PATH")
}

/// Starts the tool with `config` on stdin, for tests that signal or kill it.
fn spawn_tool(config: &Value, path_prepend: Option<&Path>, home: &Path) -> Child {
    let mut path = std::env::var("PATH").unwrap_or_default();
    if let Some(dir) = path_prepend {
        path = format!("{}:{path}", dir.display());
    }
    std::fs::create_dir_all(home).expect("home");
    let mut child = Command::new(env!("CARGO_BIN_EXE_windmill-git-sync"))
        .args(["--config", "-"])
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the tool");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(config.to_string().as_bytes())
        .expect("send config");
    drop(stdin);
    child
}

fn finish(child: Child) -> (i32, Value, String) {
    let out = child.wait_with_output().expect("wait");
    let code = std::os::unix::process::ExitStatusExt::signal(&out.status)
        .map(|s| 128 + s)
        .or(out.status.code())
        .unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        code,
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Asserts `pid` is gone within a few seconds.
fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} outlived the run");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sending a signal to our own child.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, signal);
    }
}

fn place_of(remote: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    without_bookkeeping(&tree_files(remote, "main"), "")
}

// ---- 1. Overlap -----------------------------------------------------------

#[test]
fn an_overlapping_run_waits_then_exits_7_and_pushes_nothing() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let hold = Hold::new(s.dir.path(), "wmill", &wmill_path(), None);
    let first = spawn_tool(
        &s.with(json!({"work_dir": work_dir, "wmill_path": hold.program})),
        None,
        &s.path("h1"),
    );
    hold.reached();
    let second = s.run(s.with(json!({"work_dir": work_dir, "lock_timeout_secs": 1})));
    second.assert_code(7);
    assert_eq!(second.json["error"]["kind"], "locked", "{}", second.dump());
    assert!(second.json["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("waited 1 s"));
    assert_eq!(tip(&s.remote, "main"), None, "the locked run pushed");
    hold.release();
    let (code, json, stderr) = finish(first);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(commit_count(&s.remote, "main"), 1);
}

#[test]
fn a_lock_left_by_a_killed_run_never_blocks() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let hold = Hold::new(s.dir.path(), "wmill", &wmill_path(), None);
    let first = spawn_tool(
        &s.with(json!({"work_dir": work_dir, "wmill_path": hold.program})),
        None,
        &s.path("h1"),
    );
    let held = hold.reached();
    kill(&first, libc::SIGKILL);
    finish(first);
    assert_gone(held);
    let out = s.run(s.with(json!({"work_dir": work_dir, "lock_timeout_secs": 0})));
    out.assert_code(0);
    assert_eq!(out.json["status"], "pushed", "{}", out.dump());
}

// ---- 2. Interruption -------------------------------------------------------

/// Runs once, changes the workspace, starts a second run that is killed
/// at the held point, dirties the work dir the way a crash can, then checks
/// a third run repairs everything and pushes the right snapshot.
fn killed_then_recovered(point: &str) {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let root = s.path("http-root");
    init_bare(&root.join("r.git"));
    let server = GitHttpServer::start(&root, "x-access-token", "git-tok-Rk29vX");
    let remote = root.join("r.git");
    let config = s.with(json!({"work_dir": work_dir, "git_remote_url": server.url("r.git"), "git_token": "git-tok-Rk29vX"}));
    s.run(config.clone()).assert_code(0);
    s.windmill.update(|ws| {
        ws.script("f/ops/job_1", "bash", "echo after the crash\n");
        ws.remove("f/ops/job_3");
    });

    let (hold, killed_config, prepend) = match point {
        "pull" => {
            let hold = Hold::new(s.dir.path(), "wmill", &wmill_path(), None);
            let mut c = config.clone();
            c["wmill_path"] = json!(hold.program);
            (hold, c, None)
        }
        _ => {
            let hold = Hold::new(s.dir.path(), "git", &real_git(), Some("push"));
            let dir = hold.bin_dir().to_path_buf();
            (hold, config.clone(), Some(dir))
        }
    };
    let run = spawn_tool(&killed_config, prepend.as_deref(), &s.path("h2"));
    let held = hold.reached();
    if point == "push" {
        // Let the push start, and hold it inside the HTTP exchange.
        let before = server.requests().len();
        server.set_hang(true);
        hold.release();
        assert!(
            server.wait_for_arrivals(before + 1, Duration::from_secs(60)),
            "the push never reached the server"
        );
    }
    kill(&run, libc::SIGKILL);
    let (code, _, _) = finish(run);
    assert_eq!(code, 128 + libc::SIGKILL);
    assert_gone(held);
    server.set_hang(false);

    // What a crash can leave behind in the work dir.
    std::fs::write(work_dir.join(".git/index.lock"), "").expect("stale index.lock");
    std::fs::write(work_dir.join("f/ops/job_2.sh"), "half-writ").expect("half-written file");
    std::fs::write(work_dir.join("f/ops/stray.sh"), "echo stray\n").expect("stray file");

    let out = s.run(config);
    out.assert_code(0);
    let status = out.json["status"].as_str().unwrap_or("");
    assert!(
        status == "pushed" || (point == "push" && status == "no_changes"),
        "{}",
        out.dump()
    );
    assert_eq!(
        commit_count(&remote, "main"),
        2,
        "exactly one commit for the change"
    );
    let tree = tree_files(&remote, "main");
    assert_eq!(
        place_of(&remote),
        without_bookkeeping(&s.plain_pull(&tree["wmill.yaml"]), "")
    );
    assert!(!work_dir.join(".git/index.lock").exists());
}

#[test]
fn killed_during_the_pull_the_next_run_recovers() {
    killed_then_recovered("pull");
}

#[test]
fn killed_after_the_commit_the_next_run_recovers() {
    killed_then_recovered("commit");
}

#[test]
fn killed_during_the_push_the_next_run_recovers() {
    killed_then_recovered("push");
}

fn signalled(signal: i32, code: i32) {
    let s = Setup::new(Workspace::sample());
    let hold = Hold::new(s.dir.path(), "wmill", &wmill_path(), None);
    let run = spawn_tool(
        &s.with(json!({"wmill_path": hold.program})),
        None,
        &s.path("h"),
    );
    let held = hold.reached();
    let started = Instant::now();
    kill(&run, signal);
    let (got, json, stderr) = finish(run);
    assert_eq!(got, code, "{json} {stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(json["status"], "failed");
    assert_eq!(json["error"]["kind"], "interrupted", "{json}");
    assert_gone(held);
    assert_eq!(tip(&s.remote, "main"), None);
}

#[test]
fn sigterm_ends_the_children_and_exits_143() {
    signalled(libc::SIGTERM, 143);
}

#[test]
fn sigint_ends_the_children_and_exits_130() {
    signalled(libc::SIGINT, 130);
}

// ---- 3. Deadlines -----------------------------------------------------------

#[test]
fn a_windmill_that_never_answers_times_out_with_3() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    s.run(s.with(json!({"work_dir": work_dir}))).assert_code(0);
    // Every start of wmill records its pid, then becomes wmill.
    let pids = s.path("wmill-pids");
    let wrapper = s.path("wmill-recording");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho $$ >> '{}'\nexec '{}' \"$@\"\n",
            pids.display(),
            wmill_path().display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    s.windmill.set_fault(Fault::HangTarball);
    let before = tip(&s.remote, "main");
    let out =
        s.run(s.with(json!({"work_dir": work_dir, "wmill_path": wrapper, "pull_timeout_secs": 2})));
    out.assert_code(3);
    let message = out.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("timed out after 2 s"), "{}", out.dump());
    assert_eq!(out.json["attempts"]["pull"], 3);
    assert_eq!(tip(&s.remote, "main"), before);
    let recorded = std::fs::read_to_string(&pids).expect("pids");
    assert_eq!(recorded.lines().count(), 3);
    for pid in recorded.lines() {
        assert_gone(pid.trim().parse().expect("pid"));
    }
}

#[test]
fn a_git_remote_that_hangs_times_out_with_4() {
    let s = Setup::new(Workspace::sample());
    let root = s.path("http-root");
    init_bare(&root.join("r.git"));
    let server = GitHttpServer::start(&root, "x-access-token", "git-tok-Hh55");
    server.set_hang(true);
    let url = server.url("r.git");
    let started = Instant::now();
    let out = s.run(
        s.with(json!({"git_remote_url": url, "git_token": "git-tok-Hh55", "git_timeout_secs": 2})),
    );
    out.assert_code(4);
    assert!(started.elapsed() < Duration::from_secs(30));
    let message = out.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("timed out after 2 s"), "{}", out.dump());
    // No git process of that run is left talking to the server.
    let port = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| {
                c.contains(&format!("127.0.0.1:{port}")) && !c.contains("windmill_git_sync")
            })
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- 4. Retries -------------------------------------------------------------

#[test]
fn a_failing_server_is_retried_with_backoff() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let config = s.with(json!({"work_dir": work_dir}));
    s.run(config.clone()).assert_code(0);
    s.windmill.update(|ws| {
        ws.script("f/ops/job_1", "bash", "echo retried\n");
    });
    s.windmill.set_fault(Fault::FailTimes(2, 500));
    let out = s.run(config.clone());
    out.assert_code(0);
    assert_eq!(out.json["attempts"]["pull"], 3, "{}", out.dump());
    assert_eq!(out.json["status"], "pushed");

    s.windmill.set_fault(Fault::TarballStatus(503));
    let out = s.run(config);
    out.assert_code(3);
    assert_eq!(out.json["attempts"]["pull"], 3, "{}", out.dump());
    assert!(
        out.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("503"),
        "{}",
        out.dump()
    );
}

// ---- 5. Others push too -----------------------------------------------------

#[test]
fn a_branch_that_keeps_moving_exits_5_after_every_attempt() {
    let s = Setup::new(Workspace::sample());
    let first = commit_files(&s.remote, "main", &[("README.md", "0\n")], "Init");
    let other = s.path("other");
    git(
        s.dir.path(),
        &[
            "clone",
            "--quiet",
            s.remote.to_str().expect("utf8"),
            other.to_str().expect("utf8"),
        ],
    );
    // A `git` that lets someone else push just before each of our pushes.
    let bin = s.path("busy-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let real = real_git();
    std::fs::write(
        bin.join("git"),
        format!(
            "#!/bin/sh\nif [ \"$1\" = push ]; then\n  (cd '{o}' && date +%s%N > README.md && '{g}' -c user.name=P -c user.email=p@e commit -qam 'Someone else' && '{g}' push -q origin HEAD:main) >&2\nfi\nexec '{g}' \"$@\"\n",
            o = other.display(),
            g = real.display()
        ),
    )
    .expect("write git wrapper");
    std::fs::set_permissions(
        bin.join("git"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let out = Tool::new().config(s.config()).path_prepend(&bin).run();
    out.assert_code(5);
    assert_eq!(out.json["error"]["kind"], "push_rejected", "{}", out.dump());
    assert_eq!(out.json["attempts"]["push"], 3);
    let subjects = log_subjects(&s.remote, "main");
    assert_eq!(
        subjects,
        vec!["Someone else", "Someone else", "Someone else", "Init"],
        "history kept, nothing of ours"
    );
    let oldest = git(&s.remote, &["rev-list", "--max-parents=0", "main"]);
    assert_eq!(oldest, first);
}

// ---- 6. Guards --------------------------------------------------------------

#[test]
fn an_emptied_workspace_is_refused() {
    let s = Setup::new(Workspace::sample());
    s.run(s.config()).assert_code(0);
    let before = tip(&s.remote, "main");
    s.windmill.set_workspace(Workspace::new());
    let out = s.run(s.config());
    out.assert_code(6);
    assert_eq!(out.json["guard"]["name"], "mass_deletion", "{}", out.dump());
    assert_eq!(out.json["guard"]["remaining"], 0);
    assert_eq!(tip(&s.remote, "main"), before);
}

#[test]
fn a_mostly_deleted_workspace_is_refused_unless_allowed() {
    let s = Setup::new(Workspace::sample());
    s.run(s.config()).assert_code(0);
    let before = tip(&s.remote, "main");
    s.windmill.update(|ws| {
        for p in [
            "f/ops/job_1",
            "f/ops/job_2",
            "f/ops/job_3",
            "f/etl/load",
            "f/etl/shout",
            "u/admin/notes",
            "f/ops/flow1",
        ] {
            ws.remove(p);
        }
    });
    let out = s.run(s.config());
    out.assert_code(6);
    assert_eq!(out.json["guard"]["name"], "mass_deletion", "{}", out.dump());
    assert!(out.json["guard"]["deleted"].as_u64().unwrap_or(0) > 10);
    assert_eq!(tip(&s.remote, "main"), before);
    let dry = Tool::new().config(s.config()).arg("--dry-run").run();
    dry.assert_code(6);
    assert_eq!(
        dry.json["changes"]["deleted"],
        out.json["changes"]["deleted"]
    );

    let allowed = s.run(s.with(json!({"allow_mass_delete": true})));
    allowed.assert_code(0);
    assert_eq!(allowed.json["status"], "pushed");
}

const LEAK: &str = "ghp_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78";

#[test]
fn a_pasted_credential_is_refused_by_file_and_kind() {
    let mut ws = Workspace::sample();
    ws.script(
        "f/ops/leaky",
        "bash",
        &format!("curl -H 'Authorization: token {LEAK}' https://api.github.com\n"),
    );
    let s = Setup::new(ws);
    let out = s.run(s.config());
    out.assert_code(6);
    assert_eq!(out.json["guard"]["name"], "secret_scan", "{}", out.dump());
    assert_eq!(
        out.json["guard"]["findings"],
        json!([{"file": "f/ops/leaky.sh", "kind": "github_token", "line": 1}])
    );
    assert!(!out.stdout.contains(LEAK) && !out.stderr.contains(LEAK));
    assert_eq!(tip(&s.remote, "main"), None);

    let warned = s.run(s.with(json!({"secret_scan": "warn"})));
    warned.assert_code(0);
    let warnings = warned.json["warnings"].to_string();
    assert!(
        warnings.contains("f/ops/leaky.sh") && warnings.contains("github token"),
        "{warnings}"
    );
    assert!(!warned.stdout.contains(LEAK) && !warned.stderr.contains(LEAK));
}

#[test]
fn allowlisted_paths_and_the_configured_tokens() {
    let mut ws = Workspace::sample();
    ws.script("f/fixtures/sample_key", "bash", &format!("echo {LEAK}\n"));
    let s = Setup::new(ws);
    let out = s.run(s.with(json!({"secret_scan_allow": ["f/fixtures/**"]})));
    out.assert_code(0);
    assert_eq!(out.json["warnings"], json!([]), "{}", out.dump());

    // The Windmill token itself pasted into a script.
    s.windmill.update(|ws| {
        ws.script("f/ops/uses_token", "bash", &format!("TOKEN={TOKEN}\n"));
    });
    let out = s.run(s.with(json!({"secret_scan_allow": ["f/fixtures/**"]})));
    out.assert_code(6);
    assert_eq!(
        out.json["guard"]["findings"][0]["kind"],
        "configured_windmill_token",
        "{}",
        out.dump()
    );
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
}

// ---- 7. No token anywhere --------------------------------------------------

fn assert_clean(what: &str, text: &[u8], tokens: &[&str]) {
    let text = String::from_utf8_lossy(text);
    for t in tokens {
        assert!(!text.contains(t), "{what} holds a token");
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, f);
        } else {
            f(&path);
        }
    }
}

#[test]
fn no_token_in_argv_output_files_or_history() {
    let git_token = "git-tok-Zx81Qp27Lm";
    let s = Setup::new(Workspace::sample());
    let root = s.path("http-root");
    init_bare(&root.join("r.git"));
    let server = GitHttpServer::start(&root, "x-access-token", git_token);
    let shims = Shims::new(&["git", "node", "wmill", "sh", "env", "curl"]);
    let work_dir = s.path("work");
    let result_file = s.path("result.json");
    let config = s.with(json!({
        "git_remote_url": server.url("r.git"),
        "git_token": git_token,
        "work_dir": work_dir,
        "wmill_path": shims.dir().join("wmill"),
    }));
    let tokens = [TOKEN, git_token];
    for round in 0..2 {
        if round == 1 {
            s.windmill.update(|ws| {
                ws.script("f/ops/job_1", "bash", "echo second round\n");
            });
        }
        let out = Tool::new()
            .config(config.clone())
            .path_prepend(shims.dir())
            .arg("-vv")
            .arg("--result-file")
            .arg(result_file.to_str().expect("utf8"))
            .run();
        out.assert_code(0);
        assert_clean("stdout", out.stdout.as_bytes(), &tokens);
        assert_clean("stderr (-vv)", out.stderr.as_bytes(), &tokens);
        assert!(
            out.stderr.contains("DEBUG") && out.stderr.contains("TRACE"),
            "-vv logs at trace"
        );
    }
    let records = shims.records();
    assert!(
        records
            .iter()
            .any(|r| r[0] == "git" && r.get(1).is_some_and(|a| a == "push")),
        "{records:?}"
    );
    assert!(records.iter().any(|r| r[0] == "node"), "{records:?}");
    for r in &records {
        assert_clean(&format!("argv {r:?}"), r.join(" ").as_bytes(), &tokens);
    }
    assert_clean(
        "result file",
        &std::fs::read(&result_file).expect("result file"),
        &tokens,
    );
    walk(&work_dir, &mut |p| {
        assert_clean(
            &p.display().to_string(),
            &std::fs::read(p).expect("read"),
            &tokens,
        )
    });
    let remote = root.join("r.git");
    assert_clean(
        "history",
        git(
            &remote,
            &["log", "-p", "--all", "--format=%H %an %ae %s %b"],
        )
        .as_bytes(),
        &tokens,
    );
    for line in git(&remote, &["rev-list", "--objects", "--all"]).lines() {
        let sha = line.split(' ').next().expect("sha");
        assert_clean(
            "object",
            &git_bytes(&remote, &["cat-file", "-p", sha]),
            &tokens,
        );
    }
}

#[test]
fn errors_that_echo_a_token_or_a_url_are_redacted() {
    let s = Setup::new(Workspace::sample());
    let noisy = s.path("noisy-wmill");
    std::fs::write(
        &noisy,
        "#!/bin/sh\necho \"auth failed for $WM_TOKEN\" >&2\necho \"at https://admin:$WM_TOKEN@windmill.example.com/api\" >&2\nexit 1\n",
    )
    .expect("write");
    std::fs::set_permissions(&noisy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = s.run(s.with(json!({"wmill_path": noisy})));
    out.assert_code(3);
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "{}",
        out.dump()
    );
    let message = out.json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("auth failed for ***"), "{message}");
    assert!(!message.contains("admin:"), "{message}");
}

// ---- 8. Bad input never panics ---------------------------------------------

fn config_error(input: Vec<u8>, needles: &[&str]) {
    let out = Tool::new().stdin_bytes(input).run();
    out.assert_code(2);
    assert_eq!(out.json["error"]["kind"], "config", "{}", out.dump());
    let message = out.json["error"]["message"].as_str().unwrap_or("");
    for n in needles {
        assert!(message.contains(n), "{n:?} not in {message:?}");
    }
    assert!(!out.stderr.contains("panicked"));
}

fn good() -> Value {
    json!({"windmill_token": "tok-12345678", "git_remote_url": "/tmp/none.git"})
}

#[test]
fn malformed_and_hostile_input_exits_2_naming_the_key() {
    config_error(
        b"{\"windmill_token\": \"a\0b\"}".to_vec(),
        &["not valid JSON"],
    );
    config_error(
        b"{\"windmill_token\": \"x\", \"git_remote_url\": \"/r\xff\"}".to_vec(),
        &["UTF-8"],
    );
    config_error(
        br#"{"windmill_token": "tok\u0000x", "git_remote_url": "/r.git"}"#.to_vec(),
        &["windmill_token", "NUL"],
    );
    config_error(
        br#"{"windmill_token": "tok-1234"#.to_vec(),
        &["not valid JSON"],
    );
    config_error(vec![b' '; 100 * 1024 * 1024], &["larger than"]);
    for branch in [
        "a..b",
        "-x",
        "has space",
        "wm-fork/b",
        "x.lock",
        "HEAD",
        "a:b",
    ] {
        let mut c = good();
        c["git_branch"] = json!(branch);
        config_error(c.to_string().into_bytes(), &["git_branch"]);
    }
    for subdir in ["../escape", "/abs", "a/../../b", ".git", "a/.git/b"] {
        let mut c = good();
        c["repo_subdir"] = json!(subdir);
        config_error(c.to_string().into_bytes(), &["repo_subdir"]);
    }
    let mut both = good();
    both["windmill_token_file"] = json!("/etc/hostname");
    config_error(both.to_string().into_bytes(), &["windmill_token_file"]);
    let mut wrong_types = good();
    wrong_types["lock_timeout_secs"] = json!("60");
    wrong_types["excludes"] = json!("f/**");
    wrong_types["max_delete_ratio"] = json!(2);
    wrong_types["secret_scan"] = json!("maybe");
    config_error(
        wrong_types.to_string().into_bytes(),
        &[
            "lock_timeout_secs",
            "excludes",
            "max_delete_ratio",
            "secret_scan",
        ],
    );
    let mut comma = good();
    comma["includes"] = json!(["f/a/**,f/b/**"]);
    config_error(comma.to_string().into_bytes(), &["includes", ","]);
}

#[test]
fn a_damaged_work_dir_is_rebuilt() {
    let s = Setup::new(Workspace::sample());
    let work_dir = s.path("work");
    let config = s.with(json!({"work_dir": work_dir}));
    s.run(config.clone()).assert_code(0);
    s.windmill.update(|ws| {
        ws.script("f/ops/job_1", "bash", "echo after the damage\n");
    });
    // A truncated index and a HEAD that points nowhere git can read.
    std::fs::write(work_dir.join(".git/index"), "DIRC garbage").expect("index");
    std::fs::write(work_dir.join(".git/HEAD"), "not a ref\n").expect("HEAD");
    let out = s.run(config);
    out.assert_code(0);
    assert_eq!(out.json["status"], "pushed", "{}", out.dump());
    assert!(out.stderr.contains("is damaged"), "{}", out.stderr);
    assert_eq!(
        tree_files(&s.remote, "main")["f/ops/job_1.sh"],
        b"echo after the damage\n"
    );
    assert_eq!(commit_count(&s.remote, "main"), 2);
}
