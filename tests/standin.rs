//! Holds the Windmill stand-in against the answers of a real Windmill CE
//! v1.713.1 server (`tests/fixtures/windmill-1.713.1/`) and against the
//! pinned wmill CLI; and the other stand-ins (git over HTTP, shims).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use support::*;

const TOKEN: &str = "standin-test-token";
const WORKSPACE: &str = "sample";
/// The query under which `tarball.zip` was captured; it is what wmill
/// 1.819.0 sends with `includeSchedules` and `includeTriggers` set.
const FIXTURE_QUERY: &str = "archive_type=zip&plain_secret=false&skip_variables=false\
&skip_resources=false&skip_secrets=false&include_schedules=true&include_triggers=true\
&include_users=false&include_groups=false&include_settings=false&include_key=false\
&include_workspace_dependencies=true&skip_datatable_migrations=false&default_ts=bun\
&skip_resource_types=false&settings_version=v2&preserve_extra_perms=true\
&sync_behavior_version=v0";
const WMILL_YAML: &str = "defaultTs: bun\nincludeSchedules: true\nincludeTriggers: true\n";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/windmill-1.713.1")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Entries of a zip, sorted by name; panics on a directory entry.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    let mut entries = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("a readable zip entry");
        assert!(!file.is_dir(), "directory entry {} in the zip", file.name());
        let mut content = Vec::new();
        file.read_to_end(&mut content)
            .expect("an inflatable zip entry");
        let name = file.name().to_owned();
        assert!(
            entries.insert(name.clone(), content).is_none(),
            "{name} twice"
        );
    }
    entries
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// A bare HTTP/1.0 GET, so the answer ends with the connection.
fn get(url: &str, token: Option<&str>) -> Answer {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).expect("connect to the stand-in");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n{auth}\r\n").expect("send a request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("odd status line in {head:?}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: raw[split + 4..].to_vec(),
    }
}

fn tarball_url(base: &str, workspace: &str, query: &str) -> String {
    format!("{base}api/w/{workspace}/workspaces/tarball?{query}")
}

// (a) The sample workspace is the captured one, byte for byte. Bytes are
// compared, not parsed JSON: wmill compares YAML semantically, but the
// stand-in's files should look like the server's (key order, compact
// `schema` inside pretty script.json, no trailing newline, raw UTF-8), and
// equal bytes imply equal parsed JSON.
#[test]
fn sample_workspace_matches_the_captured_tarball_byte_for_byte() {
    let query = TarballQuery::parse(FIXTURE_QUERY).expect("the fixture query parses");
    let expected = unzip(&fixture("tarball.zip"));
    let built: BTreeMap<String, Vec<u8>> = Workspace::sample()
        .archive_entries(&query)
        .into_iter()
        .collect();
    assert_eq!(
        built.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "entry names"
    );
    for (name, bytes) in &expected {
        assert_eq!(
            String::from_utf8_lossy(&built[name]),
            String::from_utf8_lossy(bytes),
            "content of {name}"
        );
        assert_eq!(&built[name], bytes, "bytes of {name}");
    }
    // The same through HTTP: the served zip holds the same files.
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let answer = get(
        &tarball_url(&standin.base_url(), WORKSPACE, FIXTURE_QUERY),
        Some(TOKEN),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(unzip(&answer.body), expected);
}

#[test]
fn from_zip_serves_the_captured_entries_unchanged() {
    let query = TarballQuery::parse(FIXTURE_QUERY).expect("the fixture query parses");
    let ws = Workspace::from_zip(&fixture("tarball.zip")).expect("the fixture zip reads");
    let built: BTreeMap<_, _> = ws.archive_entries(&query).into_iter().collect();
    assert_eq!(built, unzip(&fixture("tarball.zip")));
}

fn names(ws: &Workspace, query: &str) -> Vec<String> {
    let query = TarballQuery::parse(query).expect("a valid query");
    let mut names: Vec<String> = ws
        .archive_entries(&query)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    names.sort();
    names
}

#[test]
fn tarball_query_flags_select_entries_like_the_server() {
    let mut ws = Workspace::sample();
    ws.resource_type("acme")
        .raw("f/ops/hook.http_trigger.json", "{}")
        .raw("users/admin@windmill.dev.user.json", "{}")
        .raw("groups/devs.group.json", "{}")
        .raw("settings.json", "{}")
        .raw("encryption_key.json", "{}");
    let all = names(&ws, FIXTURE_QUERY);
    let without = |q: &str, gone: &[&str]| {
        let got = names(&ws, q);
        let want: Vec<String> = all
            .iter()
            .filter(|n| !gone.contains(&n.as_str()))
            .cloned()
            .collect();
        assert_eq!(got, want, "query {q}");
    };
    let base = FIXTURE_QUERY;
    without(
        &base.replace("skip_secrets=false", "skip_secrets=true"),
        &["f/ops/api_key.variable.json"],
    );
    without(
        &base.replace("skip_variables=false", "skip_variables=true"),
        &[
            "f/ops/api_key.variable.json",
            "f/ops/greeting.variable.json",
        ],
    );
    without(
        &base.replace("skip_resources=false", "skip_resources=true"),
        &["f/etl/pg.resource.json"],
    );
    without(
        &base.replace("skip_resource_types=false", "skip_resource_types=true"),
        &["acme.resource-type.json"],
    );
    without(
        &base.replace("include_schedules=true", "include_schedules=false"),
        &["f/ops/every_hour.schedule.json"],
    );
    without(
        &base.replace("include_triggers=true", "include_triggers=false"),
        &["f/ops/hook.http_trigger.json"],
    );
    // Users, groups, settings and the key only come when asked for.
    assert!(!all
        .iter()
        .any(|n| n.starts_with("users/") || n.starts_with("groups/")));
    assert!(
        !all.contains(&"settings.json".to_owned())
            && !all.contains(&"encryption_key.json".to_owned())
    );
    let everything = base
        .replace("include_users=false", "include_users=true")
        .replace("include_groups=false", "include_groups=true")
        .replace("include_settings=false", "include_settings=true")
        .replace("include_key=false", "include_key=true");
    assert_eq!(names(&ws, &everything).len(), all.len() + 4);
    // default_ts decides the extension of bun and deno scripts.
    let deno = names(&ws, &base.replace("default_ts=bun", "default_ts=deno"));
    assert!(deno.contains(&"f/etl/shout.bun.ts".to_owned()), "{deno:?}");
    assert!(all.contains(&"f/etl/shout.ts".to_owned()));
}

#[test]
fn workspace_builders_replace_and_remove_items() {
    let mut ws = Workspace::new();
    ws.folder("ops")
        .script("f/ops/a", "bash", "echo a\n")
        .script("f/ops/a_b", "python3", "def main():\n    pass\n")
        .flow("f/ops/a_flow", "calls a")
        .schedule("f/ops/a", "f/ops/a", "0 0 * * * *")
        .variable("f/ops/v", "x", false);
    let q = TarballQuery::parse(FIXTURE_QUERY).expect("a valid query");
    let flow = ws
        .archive_entries(&q)
        .into_iter()
        .find(|(n, _)| n == "f/ops/a_flow.flow.json");
    let flow: serde_json::Value = serde_json::from_slice(&flow.expect("the flow").1).expect("JSON");
    assert_eq!(flow["value"]["modules"][0]["value"]["path"], "f/ops/a");
    ws.script("f/ops/a", "bash", "echo changed\n");
    let a = ws
        .archive_entries(&q)
        .into_iter()
        .find(|(n, _)| n == "f/ops/a.sh");
    assert_eq!(a.expect("the script").1, b"echo changed\n");
    ws.remove("f/ops/a");
    assert_eq!(
        names(&ws, FIXTURE_QUERY),
        [
            "f/ops/a_b.py",
            "f/ops/a_b.script.json",
            "f/ops/a_flow.flow.json",
            "f/ops/folder.meta.json",
            "f/ops/v.variable.json"
        ]
    );
    ws.remove("f/ops");
    assert!(!names(&ws, FIXTURE_QUERY).contains(&"f/ops/folder.meta.json".to_owned()));
}

// (b) The other endpoints answer the captured bodies; a bad or missing
// token gets 401 everywhere but on the public version endpoint.
#[test]
fn endpoints_answer_like_the_real_server() {
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let base = standin.base_url();
    let cases = [
        ("api/users/whoami", "global-whoami.json"),
        ("api/w/sample/users/whoami", "workspace-whoami.json"),
        (
            "api/w/sample/workspaces/list_ws_specific",
            "list_ws_specific.json",
        ),
        (
            "api/w/sample/resources/file_resource_type_to_file_ext_map",
            "file_resource_type_to_file_ext_map.json",
        ),
        ("api/w/sample/shared_ui/get", "shared_ui_get.json"),
    ];
    for (path, file) in cases {
        let answer = get(&format!("{base}{path}"), Some(TOKEN));
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.content_type, "application/json", "{path}");
        assert_eq!(answer.body, fixture(file), "{path}");
        for token in [None, Some("wrong")] {
            let denied = get(&format!("{base}{path}"), token);
            assert_eq!(
                (denied.status, denied.body.as_slice()),
                (401, &b"Unauthorized"[..]),
                "{path}"
            );
        }
    }
    let denied = get(&tarball_url(&base, WORKSPACE, FIXTURE_QUERY), Some("wrong"));
    assert_eq!(denied.status, 401);
    let version = get(&format!("{base}api/version"), None);
    assert_eq!(
        (version.status, version.body),
        (200, fixture("version.txt"))
    );

    let unknown = get(&tarball_url(&base, "nope", FIXTURE_QUERY), Some(TOKEN));
    assert_eq!(unknown.status, 404);
    assert!(String::from_utf8_lossy(&unknown.body).contains("no rows returned"));
    let plain = get(
        &tarball_url(
            &base,
            WORKSPACE,
            &FIXTURE_QUERY.replace("plain_secret=false", "plain_secret=true"),
        ),
        Some(TOKEN),
    );
    assert_eq!(plain.status, 400);
    let tar = get(
        &tarball_url(
            &base,
            WORKSPACE,
            &FIXTURE_QUERY.replace("archive_type=zip", "archive_type=tar"),
        ),
        Some(TOKEN),
    );
    assert_eq!(tar.status, 400);

    let log = standin.requests();
    assert!(log.iter().all(|r| r.method == "GET"));
    assert_eq!(standin.tarball_requests(), 4);
    let denied: Vec<_> = log.iter().filter(|r| r.status == Some(401)).collect();
    assert_eq!(denied.len(), 11);
    assert!(denied.iter().all(|r| !r.authorized));
    assert_eq!(denied.iter().filter(|r| r.has_authorization).count(), 6);
    assert!(
        !format!("{log:?}").contains(TOKEN),
        "the log keeps no token"
    );
}

#[test]
fn a_workspace_specific_whoami_names_the_served_workspace() {
    let standin = WindmillStandIn::start(TOKEN, "demo", Workspace::new());
    let answer = get(
        &format!("{}api/w/demo/users/whoami", standin.base_url()),
        Some(TOKEN),
    );
    let json: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON");
    assert_eq!(json["workspace_id"], "demo");
    assert_eq!(json["email"], "admin@windmill.dev");
}

#[test]
fn a_prefix_moves_the_whole_api() {
    let standin =
        WindmillStandIn::start_with_prefix(TOKEN, WORKSPACE, Workspace::sample(), "/windmill/");
    let base = standin.base_url();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/windmill/"),
        "{base}"
    );
    assert_eq!(
        get(&format!("{base}api/users/whoami"), Some(TOKEN)).status,
        200
    );
    let root = base.trim_end_matches("windmill/");
    assert_eq!(
        get(&format!("{root}api/users/whoami"), Some(TOKEN)).status,
        404
    );
}

#[test]
fn faults_break_the_tarball_as_configured() {
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let url = tarball_url(&standin.base_url(), WORKSPACE, FIXTURE_QUERY);
    standin.set_fault(Fault::TarballStatus(503));
    let answer = get(&url, Some(TOKEN));
    assert_eq!(answer.status, 503);
    assert!(!answer.body.is_empty());
    standin.set_fault(Fault::TarballHtml);
    let answer = get(&url, Some(TOKEN));
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("text/html"),
        "{}",
        answer.content_type
    );
    standin.set_fault(Fault::TruncatedZip);
    let answer = get(&url, Some(TOKEN));
    assert_eq!(answer.status, 200);
    assert!(zip::ZipArchive::new(std::io::Cursor::new(answer.body)).is_err());
    standin.set_fault(Fault::FailTimes(2, 500));
    let statuses: Vec<u16> = (0..3).map(|_| get(&url, Some(TOKEN)).status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(get(&url, Some(TOKEN)).status, 200, "recovered for good");
    // Other endpoints are not touched by tarball faults.
    standin.set_fault(Fault::TarballStatus(500));
    let whoami = format!("{}api/users/whoami", standin.base_url());
    assert_eq!(get(&whoami, Some(TOKEN)).status, 200);
}

#[test]
fn a_hung_request_is_answered_only_when_the_stand_in_drops() {
    for fault in [Fault::HangTarball, Fault::HangAll] {
        let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
        standin.set_fault(fault);
        let url = tarball_url(&standin.base_url(), WORKSPACE, FIXTURE_QUERY);
        let client = std::thread::spawn(move || get(&url, Some(TOKEN)));
        assert!(standin.wait_for_tarball_requests(1, Duration::from_secs(30)));
        // Others still get answers while the tarball hangs (or do not, under HangAll).
        if fault == Fault::HangTarball {
            let whoami = format!("{}api/users/whoami", standin.base_url());
            assert_eq!(get(&whoami, Some(TOKEN)).status, 200);
        }
        assert!(
            !client.is_finished(),
            "{fault:?}: the tarball request was answered"
        );
        assert_eq!(standin.requests()[0].status, None);
        drop(standin);
        let answer = client.join().expect("the client thread");
        assert_eq!(
            answer.status, 500,
            "{fault:?}: dropping answers held requests"
        );
    }
}

/// Every file under `dir` except `.git/`, path to bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read a directory") {
            let path = entry.expect("a directory entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if rel == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).expect("read a file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A fresh git repository holding only the test's `wmill.yaml`.
fn pull_dir(parent: &Path, name: &str) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).expect("create a pull directory");
    git(&dir, &["init", "--quiet", "-b", "main"]);
    std::fs::write(dir.join("wmill.yaml"), WMILL_YAML).expect("write wmill.yaml");
    dir
}

/// Serves the captured bytes verbatim (tarball.zip only for the fixture query).
struct RawFixtureServer {
    server: std::sync::Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    port: u16,
}

impl RawFixtureServer {
    fn start() -> Self {
        let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("listen"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let thread = {
            let server = std::sync::Arc::clone(&server);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    let url = request.url().to_owned();
                    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                    let file = match (path, query) {
                        ("/api/version", _) => Some("version.txt"),
                        ("/api/users/whoami", _) => Some("global-whoami.json"),
                        ("/api/w/sample/users/whoami", _) => Some("workspace-whoami.json"),
                        ("/api/w/sample/workspaces/list_ws_specific", _) => {
                            Some("list_ws_specific.json")
                        }
                        ("/api/w/sample/resources/file_resource_type_to_file_ext_map", _) => {
                            Some("file_resource_type_to_file_ext_map.json")
                        }
                        ("/api/w/sample/shared_ui/get", _) => Some("shared_ui_get.json"),
                        ("/api/w/sample/workspaces/tarball", FIXTURE_QUERY) => Some("tarball.zip"),
                        _ => None,
                    };
                    // The capture kept bodies, not headers: the content types
                    // are the ones the server sends for these kinds of body.
                    let (status, content_type, body) = match file {
                        Some(f) if f.ends_with(".json") => (200, "application/json", fixture(f)),
                        Some(f) if f.ends_with(".zip") => {
                            (200, "application/octet-stream", fixture(f))
                        }
                        Some(f) => (200, "text/plain; charset=utf-8", fixture(f)),
                        None => (
                            400,
                            "text/plain; charset=utf-8",
                            format!("raw fixture server: no capture for {url}").into_bytes(),
                        ),
                    };
                    let header = tiny_http::Header::from_bytes("Content-Type", content_type)
                        .expect("a valid header");
                    let response = tiny_http::Response::from_data(body)
                        .with_status_code(status)
                        .with_header(header);
                    let _ = request.respond(response);
                }
            })
        };
        RawFixtureServer {
            server,
            thread: Some(thread),
            port,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RawFixtureServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn pinned_wmill_is_the_expected_version() {
    assert_eq!(wmill_installed_version(), "1.819.0");
}

// (c) The real CLI writes the same tree from the stand-in as from the
// captured bytes.
#[test]
fn wmill_pulls_the_same_tree_from_the_stand_in_and_from_the_captured_bytes() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let raw = RawFixtureServer::start();
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());

    let from_raw = pull_dir(scratch.path(), "raw");
    wmill_sync_pull(&from_raw, &raw.base_url(), TOKEN, WORKSPACE, &[]).assert_code(0);
    let from_standin = pull_dir(scratch.path(), "standin");
    wmill_sync_pull(&from_standin, &standin.base_url(), TOKEN, WORKSPACE, &[]).assert_code(0);

    let (raw_tree, standin_tree) = (tree(&from_raw), tree(&from_standin));
    assert_eq!(
        raw_tree.keys().collect::<Vec<_>>(),
        standin_tree.keys().collect::<Vec<_>>(),
        "file lists"
    );
    for (path, bytes) in &raw_tree {
        assert_eq!(
            String::from_utf8_lossy(&standin_tree[path]),
            String::from_utf8_lossy(bytes),
            "{path}"
        );
    }
    assert_eq!(raw_tree, standin_tree);
    // The pull did write the workspace, CRLF script and schedule included.
    assert_eq!(raw_tree["u/admin/notes.sh"], b"echo notes\r\necho crlf\r\n");
    for path in [
        "f/etl/load.script.lock",
        "f/ops/flow1.flow/flow.yaml",
        "f/ops/api_key.variable.yaml",
        "f/ops/every_hour.schedule.yaml",
        "f/etl/pg.resource.yaml",
        "wmill-lock.yaml",
    ] {
        assert!(
            raw_tree.contains_key(path),
            "{path} missing from {:?}",
            raw_tree.keys()
        );
    }
    // wmill asked the stand-in exactly what the fixture was captured for.
    let tarballs: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.is_tarball())
        .collect();
    assert_eq!(tarballs.len(), 1);
    assert_eq!(
        tarballs[0].url,
        format!("/api/w/{WORKSPACE}/workspaces/tarball?{FIXTURE_QUERY}")
    );
    assert!(standin.requests().iter().all(|r| r.authorized));
}

// (d) and the failures the stand-in can simulate, as the CLI reports them.
#[test]
fn wmill_fails_on_a_bad_token() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let dir = pull_dir(scratch.path(), "pull");
    let outcome = wmill_sync_pull(&dir, &standin.base_url(), "not-the-token", WORKSPACE, &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.dump());
    assert!(
        outcome.stderr.contains("Unauthorized"),
        "{}",
        outcome.dump()
    );
    assert_eq!(tree(&dir).keys().collect::<Vec<_>>(), ["wmill.yaml"]);
    assert_eq!(standin.tarball_requests(), 0);
}

#[test]
fn wmill_reports_an_unknown_workspace() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let dir = pull_dir(scratch.path(), "pull");
    let outcome = wmill_sync_pull(&dir, &standin.base_url(), TOKEN, "nope", &[]);
    assert_eq!(outcome.code, 1, "{}", outcome.dump());
    assert!(
        outcome.stdout.contains("Workspace id 'nope' not found"),
        "{}",
        outcome.dump()
    );
    assert_eq!(tree(&dir).keys().collect::<Vec<_>>(), ["wmill.yaml"]);
}

#[test]
fn wmill_reports_each_tarball_fault() {
    let cases = [
        (
            Fault::TarballStatus(500),
            "Failed to request tarball from API: 500",
        ),
        (Fault::TruncatedZip, "Corrupted zip"),
        (Fault::TarballHtml, "HTML response"),
    ];
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    for (i, (fault, message)) in cases.into_iter().enumerate() {
        standin.set_fault(fault);
        let dir = pull_dir(scratch.path(), &format!("pull{i}"));
        let outcome = wmill_sync_pull(&dir, &standin.base_url(), TOKEN, WORKSPACE, &[]);
        assert_eq!(outcome.code, 1, "{fault:?}\n{}", outcome.dump());
        assert!(
            outcome.stdout.contains(message) || outcome.stderr.contains(message),
            "{fault:?}: expected {message:?}\n{}",
            outcome.dump()
        );
        assert_eq!(
            tree(&dir).keys().collect::<Vec<_>>(),
            ["wmill.yaml"],
            "{fault:?}"
        );
    }
}

#[test]
fn wmill_asking_for_plain_secrets_is_refused() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let dir = pull_dir(scratch.path(), "pull");
    let outcome = wmill_sync_pull(
        &dir,
        &standin.base_url(),
        TOKEN,
        WORKSPACE,
        &["--plain-secrets"],
    );
    assert_eq!(outcome.code, 1, "{}", outcome.dump());
    let tarball = standin
        .requests()
        .into_iter()
        .find(|r| r.is_tarball())
        .expect("a tarball request");
    assert!(tarball.url.contains("plain_secret=true"));
    assert_eq!(tarball.status, Some(400));
}

// The other stand-ins: the smart-HTTP git server and the argv shims.

fn pseudo_random_hex(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b"0123456789abcdef"[usize::try_from(x >> 60).unwrap_or(0)])
        })
        .collect()
}

#[test]
fn git_http_server_clones_and_pushes_behind_basic_auth() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let root = scratch.path().join("srv");
    let bare = root.join("backup.git");
    init_bare(&bare);
    let server = GitHttpServer::start(&root, "bot", "s3cret-pass");
    let url = server.url("backup.git");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/backup.git"),
        "{url}"
    );
    let with =
        |user: &str, pass: &str| url.replacen("http://", &format!("http://{user}:{pass}@"), 1);

    // A pack bigger than git's 1 MiB post buffer goes up chunked.
    let big = pseudo_random_hex(3 << 20);
    let first = commit_files(
        with("bot", "s3cret-pass"),
        "main",
        &[("a.txt", "a\n"), ("big.txt", &big)],
        "first",
    );
    let second = commit_files(
        with("bot", "s3cret-pass"),
        "main",
        &[("b.txt", "b\n")],
        "second",
    );
    assert_eq!(tip(&bare, "main"), Some(second.clone()));
    assert_ne!(first, second);
    assert_eq!(log_subjects(&bare, "main"), ["second", "first"]);
    assert_eq!(commit_count(&bare, "main"), 2);
    let files = tree_files(&bare, "main");
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["a.txt", "b.txt", "big.txt"]
    );
    assert_eq!(files["big.txt"], big.as_bytes());

    let denied = git_output(scratch.path(), &["ls-remote", &with("bot", "wrong")]);
    assert!(!denied.success, "a wrong password was accepted");
    let anonymous = git_output(scratch.path(), &["ls-remote", &url]);
    assert!(!anonymous.success, "no password was accepted");

    let log = server.requests();
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST /backup.git/git-receive-pack ") && l.ends_with(" 200")),
        "{log:#?}"
    );
    assert!(log.last().is_some_and(|l| l.ends_with(" 401")), "{log:#?}");
    assert!(
        !format!("{log:?}").contains("s3cret"),
        "the log keeps no password"
    );
}

#[test]
fn git_http_server_holds_requests_while_hanging() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    init_bare(&scratch.path().join("r.git"));
    let server = GitHttpServer::start(scratch.path(), "u", "p");
    commit_files(scratch.path().join("r.git"), "main", &[("x", "x\n")], "x");
    let url = server.url("r.git").replacen("http://", "http://u:p@", 1);
    server.set_hang(true);
    let cwd = scratch.path().to_owned();
    let client = std::thread::spawn(move || git_output(&cwd, &["ls-remote", &url]));
    assert!(server.wait_for_arrivals(1, Duration::from_secs(30)));
    assert!(
        !client.is_finished(),
        "a request was answered while hanging"
    );
    assert!(server.requests().is_empty());
    server.set_hang(false);
    let out = client.join().expect("the client thread");
    assert!(out.success, "{}", out.stderr);
    assert!(String::from_utf8_lossy(&out.stdout).contains("refs/heads/main"));
}

#[test]
fn shims_record_what_wmill_and_node_start() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let standin = WindmillStandIn::start(TOKEN, WORKSPACE, Workspace::sample());
    let shims = Shims::new(&["git", "node", "git-remote-http"]);
    let dir = pull_dir(scratch.path(), "pull");
    WmillPull::new(&dir, &standin.base_url(), TOKEN, WORKSPACE)
        .path_prepend(shims.dir())
        .run()
        .assert_code(0);
    let node = shims.records_of("node");
    assert_eq!(node.len(), 1, "{node:?}");
    assert_eq!(node[0][0], wmill_path().to_string_lossy());
    assert_eq!(node[0][1..], ["sync", "pull", "--yes"]);
    // wmill asks git about the repository it runs in, through PATH.
    let git_records = shims.records_of("git");
    assert!(
        git_records
            .iter()
            .any(|r| r.first().is_some_and(|a| a == "rev-parse")),
        "{git_records:?}"
    );
    assert!(!format!("{:?}", shims.records()).contains(TOKEN));
    assert!(tree(&dir).contains_key("f/ops/job_1.sh"));

    // git runs its transport helper from its exec path: the shim of that
    // name sees nothing, only the `git` start itself is recorded.
    init_bare(&scratch.path().join("srv/r.git"));
    let server = GitHttpServer::start(&scratch.path().join("srv"), "u", "p");
    let url = server.url("r.git").replacen("http://", "http://u:p@", 1);
    let path = format!(
        "{}:{}",
        shims.dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let before = shims.records().len();
    let out = duct::cmd("git", ["ls-remote", &url])
        .env("PATH", &path)
        .stdin_null()
        .stdout_null()
        .run()
        .expect("git ls-remote through the shim");
    assert!(out.status.success());
    let new = shims.records().split_off(before);
    assert_eq!(new, [vec!["git".to_owned(), "ls-remote".to_owned(), url]]);
    assert!(!server.requests().is_empty(), "git did reach the server");
}

#[test]
fn shims_keep_arguments_exact_and_hold_a_start_until_released() {
    let shims = Shims::new(&["git"]);
    let path = format!(
        "{}:{}",
        shims.dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let odd = "a b\n'c\"d$e\\";
    let out = duct::cmd("git", ["rev-parse", "--verify", "--quiet", odd, ""])
        .env("PATH", &path)
        .stdin_null()
        .stdout_capture()
        .unchecked()
        .run()
        .expect("run git through the shim");
    assert!(!out.status.success());
    assert_eq!(
        shims.records(),
        [vec!["git", "rev-parse", "--verify", "--quiet", odd, ""]]
    );

    let gate = shims.hold("git");
    let held = duct::cmd("git", ["--version"])
        .env("PATH", &path)
        .stdin_null()
        .stdout_capture()
        .start()
        .expect("start git through the shim");
    assert!(
        gate.wait_reached(Duration::from_secs(30)),
        "the shim never reached the gate"
    );
    assert!(
        held.try_wait().expect("poll the held git").is_none(),
        "git ran past the gate"
    );
    assert_eq!(
        shims.records_of("git").last().map(Vec::as_slice),
        Some(&["--version".to_owned()][..])
    );
    gate.release();
    let output = held.wait().expect("git after the release");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("git version"));

    // A held start that is killed leaves nothing to wait for.
    let gate = shims.hold("git");
    let held = duct::cmd("git", ["--version"])
        .env("PATH", &path)
        .stdin_null()
        .stdout_null()
        .unchecked()
        .start()
        .expect("start git");
    assert!(gate.wait_reached(Duration::from_secs(30)));
    held.kill().expect("kill the held shim");
    drop(gate);
    let after = duct::cmd("git", ["--version"])
        .env("PATH", &path)
        .stdin_null()
        .read()
        .expect("git after the gate");
    assert!(after.starts_with("git version"));
}
