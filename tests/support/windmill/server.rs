//! An HTTP server answering the calls `wmill sync pull` makes, the way
//! Windmill CE v1.713.1 answers them (`tests/fixtures/windmill-1.713.1/`).
//!
//! Archive types: `zip` is served; `tar` is answered 400 (the CLI only asks
//! for tar after a 400 saying `Invalid Archive Type`, which this server never
//! sends). `plain_secret=true` is answered 400 so that a tool asking for
//! clear-text secrets fails loudly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::query::TarballQuery;
use super::workspace::Workspace;

const VERSION: &[u8] = include_bytes!("../../fixtures/windmill-1.713.1/version.txt");
const GLOBAL_WHOAMI: &[u8] = include_bytes!("../../fixtures/windmill-1.713.1/global-whoami.json");
const WORKSPACE_WHOAMI: &str =
    include_str!("../../fixtures/windmill-1.713.1/workspace-whoami.json");
const LIST_WS_SPECIFIC: &[u8] =
    include_bytes!("../../fixtures/windmill-1.713.1/list_ws_specific.json");
const FILE_EXT_MAP: &[u8] =
    include_bytes!("../../fixtures/windmill-1.713.1/file_resource_type_to_file_ext_map.json");
const SHARED_UI: &[u8] = include_bytes!("../../fixtures/windmill-1.713.1/shared_ui_get.json");
/// The workspace id the captured answers were taken from.
const FIXTURE_WORKSPACE: &str = "sample";
/// The server's answer for a workspace id it does not hold.
pub const NO_ROWS: &str =
    "Not found: no rows returned by a query that expected to return at least one row";

/// A misbehaviour to put on the stand-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The tarball request is answered with this status and an error body
    /// in the server's `Kind: message` form.
    TarballStatus(u16),
    /// The tarball request is read and never answered while the fault is
    /// set (until the stand-in is dropped).
    HangTarball,
    /// Every request is read and never answered.
    HangAll,
    /// The tarball request gets a 200 `text/html` sign-in page, as from an
    /// auth gateway.
    TarballHtml,
    /// The tarball is cut in half (no end of central directory).
    TruncatedZip,
    /// The next `n` tarball requests get `status`, later ones succeed.
    FailTimes(u32, u16),
}

/// One request the stand-in received. The token itself is never kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent (prefix included).
    pub url: String,
    pub has_authorization: bool,
    /// The bearer token matched.
    pub authorized: bool,
    /// `None` while held by a hang fault.
    pub status: Option<u16>,
}

impl Request {
    pub fn is_tarball(&self) -> bool {
        self.url.contains("/workspaces/tarball")
    }
}

struct State {
    workspace: Workspace,
    fault: Fault,
    log: Vec<Request>,
}

struct Shared {
    token: String,
    workspace_id: String,
    prefix: String,
    state: Mutex<State>,
    logged: Condvar,
    stopping: AtomicBool,
}

/// A Windmill API stand-in on `127.0.0.1`, serving one workspace. Stops and
/// joins its thread when dropped; requests held by a hang fault are then
/// answered 500 by the HTTP library.
pub struct WindmillStandIn {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    base_url: String,
}

enum Reply {
    Send {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    Hang,
}

impl WindmillStandIn {
    /// Serves `workspace_id` for the bearer `token`; other tokens get 401.
    pub fn start(token: &str, workspace_id: &str, workspace: Workspace) -> Self {
        WindmillStandIn::start_with_prefix(token, workspace_id, workspace, "")
    }

    /// Like `start`, with the API under a path prefix such as `/windmill`.
    pub fn start_with_prefix(
        token: &str,
        workspace_id: &str,
        workspace: Workspace,
        prefix: &str,
    ) -> Self {
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("/{p}"),
        };
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("stand-in: listen on 127.0.0.1: {e}")),
        );
        let port = server
            .server_addr()
            .to_ip()
            .expect("stand-in: a TCP listener has an IP address")
            .port();
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            workspace_id: workspace_id.to_owned(),
            prefix: prefix.clone(),
            state: Mutex::new(State {
                workspace,
                fault: Fault::None,
                log: Vec::new(),
            }),
            logged: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        let thread = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("windmill-stand-in".to_owned())
                .spawn(move || serve(&server, &shared))
                .expect("stand-in: spawn the server thread")
        };
        WindmillStandIn {
            shared,
            server,
            thread: Some(thread),
            base_url: format!("http://127.0.0.1:{port}{prefix}/"),
        }
    }

    /// `http://127.0.0.1:PORT/` or `http://127.0.0.1:PORT/prefix/`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn set_workspace(&self, workspace: Workspace) {
        self.shared.lock().workspace = workspace;
    }

    pub fn update(&self, f: impl FnOnce(&mut Workspace)) {
        f(&mut self.shared.lock().workspace);
    }

    pub fn set_fault(&self, fault: Fault) {
        self.shared.lock().fault = fault;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().log.clone()
    }

    pub fn tarball_requests(&self) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.is_tarball())
            .count()
    }

    /// Waits until `n` tarball requests have arrived (answered or held).
    /// Returns false on timeout.
    pub fn wait_for_tarball_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.log.iter().filter(|r| r.is_tarball()).count() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = (self.shared.logged.wait_timeout(state, left))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for WindmillStandIn {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            // A panic in the server thread already failed the request it was
            // serving; there is nothing more to report here.
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, shared: &Shared) {
    let mut held = Vec::new();
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(_) if shared.stopping.load(Ordering::SeqCst) => break,
            Err(_) => continue,
        };
        let authorization = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_owned());
        let authorized = authorization.as_deref() == Some(&format!("Bearer {}", shared.token));
        let reply = shared.reply(request.method().as_str(), request.url(), authorized);
        let mut entry = Request {
            method: request.method().as_str().to_owned(),
            url: request.url().to_owned(),
            has_authorization: authorization.is_some(),
            authorized,
            status: None,
        };
        match reply {
            Reply::Hang => {
                shared.record(entry);
                held.push(request);
            }
            Reply::Send {
                status,
                content_type,
                body,
            } => {
                entry.status = Some(status);
                let header = tiny_http::Header::from_bytes("Content-Type", content_type)
                    .expect("stand-in: a valid header");
                let response = tiny_http::Response::from_data(body)
                    .with_status_code(status)
                    .with_header(header);
                // Log before answering, so a client that saw the answer also
                // sees the request in the log.
                shared.record(entry);
                // The client may have gone away; that is its business.
                let _ = request.respond(response);
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, request: Request) {
        self.lock().log.push(request);
        self.logged.notify_all();
    }

    fn reply(&self, method: &str, url: &str, authorized: bool) -> Reply {
        let mut state = self.lock();
        if state.fault == Fault::HangAll {
            return Reply::Hang;
        }
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let Some(route) = path
            .strip_prefix(self.prefix.as_str())
            .and_then(|p| p.strip_prefix("/api/"))
        else {
            return text(404, "Not Found");
        };
        if method != "GET" {
            return text(405, "Method Not Allowed");
        }
        // The version is public on the real server.
        if route == "version" {
            return Reply::Send {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: VERSION.to_vec(),
            };
        }
        if !authorized {
            return text(401, "Unauthorized");
        }
        if route == "users/whoami" {
            return json(GLOBAL_WHOAMI.to_vec());
        }
        let Some((workspace, route)) = route.strip_prefix("w/").and_then(|r| r.split_once('/'))
        else {
            return text(404, "Not Found");
        };
        if workspace != self.workspace_id {
            return text(404, NO_ROWS);
        }
        match route {
            "users/whoami" => json(self.workspace_whoami()),
            "workspaces/list_ws_specific" => json(LIST_WS_SPECIFIC.to_vec()),
            "resources/file_resource_type_to_file_ext_map" => json(FILE_EXT_MAP.to_vec()),
            "shared_ui/get" => json(SHARED_UI.to_vec()),
            "workspaces/tarball" => tarball(&mut state, query),
            _ => text(404, "Not Found"),
        }
    }

    fn workspace_whoami(&self) -> Vec<u8> {
        let id = serde_json::Value::from(self.workspace_id.as_str()).to_string();
        WORKSPACE_WHOAMI
            .replacen(
                &format!("\"workspace_id\":\"{FIXTURE_WORKSPACE}\""),
                &format!("\"workspace_id\":{id}"),
                1,
            )
            .into_bytes()
    }
}

fn tarball(state: &mut State, query: &str) -> Reply {
    match state.fault {
        Fault::HangTarball => return Reply::Hang,
        Fault::TarballStatus(status) => return error_status(status),
        Fault::FailTimes(n, status) if n > 0 => {
            state.fault = match n - 1 {
                0 => Fault::None,
                left => Fault::FailTimes(left, status),
            };
            return error_status(status);
        }
        Fault::TarballHtml => {
            return Reply::Send {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: b"<!DOCTYPE html><html><head><title>Sign in</title></head>\
                        <body>Sign in to continue</body></html>"
                    .to_vec(),
            }
        }
        _ => {}
    }
    let query = match TarballQuery::parse(query) {
        Ok(query) => query,
        Err(message) => return text(400, &message),
    };
    if query.plain_secret {
        return text(400, "Bad request: the stand-in refuses plain_secret=true");
    }
    match query.archive_type.as_str() {
        "zip" => {}
        "tar" => return text(400, "Bad request: the stand-in serves zip archives only"),
        other => {
            return text(
                400,
                &format!(
                    "Failed to deserialize query string: archive_type: unknown variant `{other}`"
                ),
            )
        }
    }
    let mut body = state.workspace.zip(&query);
    if state.fault == Fault::TruncatedZip {
        body.truncate(body.len() / 2);
    }
    Reply::Send {
        status: 200,
        content_type: "application/octet-stream",
        body,
    }
}

fn error_status(status: u16) -> Reply {
    let body = match status {
        400 => "Bad request: simulated failure".to_owned(),
        401 => "Unauthorized".to_owned(),
        404 => NO_ROWS.to_owned(),
        s => format!("Internal: simulated failure ({s})"),
    };
    text(status, &body)
}

fn text(status: u16, body: &str) -> Reply {
    Reply::Send {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.as_bytes().to_vec(),
    }
}

fn json(body: Vec<u8>) -> Reply {
    Reply::Send {
        status: 200,
        content_type: "application/json",
        body,
    }
}
