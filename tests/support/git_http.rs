//! A smart-HTTP git server on `127.0.0.1`: HTTP Basic auth in front of
//! `git http-backend` run as a CGI program, one thread per request.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    hang: bool,
    /// Requests received so far, answered or not.
    arrivals: usize,
    /// `METHOD path?query status` of every answered request.
    log: Vec<String>,
}

struct Shared {
    root: PathBuf,
    username: String,
    /// The whole expected `Authorization` header value.
    expected_authorization: String,
    /// Basic credentials that may fetch but not push, like a read-only token.
    reader_authorization: Mutex<Option<String>>,
    backend: PathBuf,
    state: Mutex<State>,
    changed: Condvar,
    stopping: AtomicBool,
}

/// Serves the bare repositories under a directory. Stops when dropped;
/// requests held by [`GitHttpServer::set_hang`] are then answered 500.
pub struct GitHttpServer {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

impl GitHttpServer {
    /// Serves the bare repositories under `root` behind HTTP Basic auth.
    /// Pushing is allowed (authenticated requests carry `REMOTE_USER`).
    pub fn start(root: &Path, username: &str, password: &str) -> Self {
        let exec_path = super::git::git(Path::new("/"), &["--exec-path"]);
        let backend = Path::new(&exec_path).join("git-http-backend");
        assert!(
            backend.is_file(),
            "git http server: {} is missing",
            backend.display()
        );
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("git http server: listen on 127.0.0.1: {e}")),
        );
        let port = server
            .server_addr()
            .to_ip()
            .expect("git http server: a TCP listener has an IP address")
            .port();
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            username: username.to_owned(),
            expected_authorization: format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            ),
            reader_authorization: Mutex::new(None),
            backend,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        let thread = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("git-http-server".to_owned())
                .spawn(move || accept(&server, &shared))
                .expect("git http server: spawn the accept thread")
        };
        GitHttpServer {
            shared,
            server,
            thread: Some(thread),
            port,
        }
    }

    /// `http://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            repo.trim_start_matches('/')
        )
    }

    /// While set, requests are read and left unanswered; unsetting lets
    /// them proceed.
    pub fn set_hang(&self, hang: bool) {
        self.shared.lock().hang = hang;
        self.shared.changed.notify_all();
    }

    /// Accepts `username`/`password` for reading only: their pushes get 403
    /// as from a hosting service's read-only token.
    pub fn add_reader(&self, password: &str) {
        let value = format!(
            "Basic {}",
            base64(format!("{}:{password}", self.shared.username).as_bytes())
        );
        *self
            .shared
            .reader_authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(value);
    }

    /// `METHOD path?query status` of every answered request, in answer order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().log.clone()
    }

    /// Waits until `n` requests have arrived (answered or held). Returns
    /// false on timeout.
    pub fn wait_for_arrivals(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.arrivals < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = (self.shared.changed.wait_timeout(state, left))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            // The accept loop does not panic on its own; a panic would have
            // been printed already.
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn accept(server: &tiny_http::Server, shared: &Arc<Shared>) {
    loop {
        let request = match server.recv() {
            Ok(request) => request,
            Err(_) if shared.stopping.load(Ordering::SeqCst) => break,
            Err(_) => continue,
        };
        let shared = Arc::clone(shared);
        // Each request on its own thread, so a held or slow one blocks no
        // other. The thread ends with its request.
        std::thread::spawn(move || handle(request, &shared));
    }
}

fn handle(request: tiny_http::Request, shared: &Shared) {
    {
        let mut state = shared.lock();
        state.arrivals += 1;
        shared.changed.notify_all();
        while state.hang && !shared.stopping.load(Ordering::SeqCst) {
            state = shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
    }
    let line = format!("{} {}", request.method(), request.url());
    let authorization = header(&request, "Authorization");
    let reader = shared
        .reader_authorization
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if reader.is_some() && authorization == reader && request.url().contains("git-receive-pack") {
        shared.lock().log.push(format!("{line} 403"));
        let _ = request.respond(
            tiny_http::Response::from_string("Forbidden: read-only token").with_status_code(403),
        );
        return;
    }
    let reading = reader.is_some() && authorization == reader;
    if !reading && authorization.as_deref() != Some(shared.expected_authorization.as_str()) {
        shared.lock().log.push(format!("{line} 401"));
        let response = tiny_http::Response::from_string("Unauthorized")
            .with_status_code(401)
            .with_header(
                tiny_http::Header::from_bytes("WWW-Authenticate", "Basic realm=\"git\"")
                    .expect("git http server: a valid header"),
            );
        let _ = request.respond(response);
        return;
    }
    let status = serve_backend(request, shared);
    shared.lock().log.push(format!("{line} {status}"));
}

/// A started `git http-backend` whose CGI headers have been read.
struct Backend {
    child: std::process::Child,
    status: u16,
    headers: Vec<tiny_http::Header>,
    stdout: BufReader<std::process::ChildStdout>,
    feeder: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

/// Answers one authenticated request through `git http-backend` and
/// returns the status sent.
fn serve_backend(mut request: tiny_http::Request, shared: &Shared) -> u16 {
    let url = request.url().to_owned();
    let backend = match start_backend(&mut request, shared) {
        Ok(backend) => backend,
        Err(message) => {
            eprintln!("git http server: {url}: {message}");
            let _ =
                request.respond(tiny_http::Response::from_string(message).with_status_code(500));
            return 500;
        }
    };
    let Backend {
        mut child,
        status,
        headers,
        stdout,
        feeder,
        stderr,
    } = backend;
    let response = tiny_http::Response::new(status.into(), headers, stdout, None, None);
    // A client that hung up is its business; the log still gets the status.
    let _ = request.respond(response);
    let _ = feeder.join();
    let stderr = stderr.join().unwrap_or_default();
    match child.wait() {
        Ok(exit) if !exit.success() && status < 400 => {
            eprintln!("git http server: backend failed ({exit}) for {url}: {stderr}");
        }
        Err(e) => eprintln!("git http server: wait for the backend ({url}): {e}"),
        Ok(_) => {}
    }
    status
}

fn start_backend(request: &mut tiny_http::Request, shared: &Shared) -> Result<Backend, String> {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    // tiny_http undoes chunked transfer encoding; the body may still be
    // gzip-compressed, which http-backend handles given the header.
    let mut body = Vec::new();
    request
        .as_reader()
        .read_to_end(&mut body)
        .map_err(|e| format!("read the request body: {e}"))?;
    let mut command = Command::new(&shared.backend);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &shared.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_HTTP_MAX_REQUEST_BUFFER", "1000M")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", request.method().as_str())
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", &shared.username)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(content_type) = header(request, "Content-Type") {
        command.env("CONTENT_TYPE", content_type);
    }
    if let Some(encoding) = header(request, "Content-Encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = header(request, "Git-Protocol") {
        command.env("GIT_PROTOCOL", &protocol);
        command.env("HTTP_GIT_PROTOCOL", protocol);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("start {}: {e}", shared.backend.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin pipe")?;
    let feeder = std::thread::spawn(move || {
        // The backend may stop reading early (an error); it says so itself.
        let _ = stdin.write_all(&body);
    });
    let mut stderr_pipe = child.stderr.take().ok_or("no stderr pipe")?;
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
    let mut status = 200;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let read = stdout
            .read_line(&mut line)
            .map_err(|e| format!("read the CGI headers: {e}"))?;
        let line = line.trim_end_matches(['\r', '\n']);
        if read == 0 || line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("odd CGI header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("Status") {
            status = (value.split(' ').next())
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| format!("odd CGI status {value:?}"))?;
        } else if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
            headers.push(header);
        }
    }
    Ok(Backend {
        child,
        status,
        headers,
        stdout,
        feeder,
        stderr,
    })
}

fn header(request: &tiny_http::Request, name: &str) -> Option<String> {
    (request.headers().iter())
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
