//! A Windmill front: the variables API, everything else passed to the stand-in.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::json;

use super::{TOKEN, WS};
use crate::support::WindmillStandIn;

/// One request for a variable's value.
#[derive(Clone, Debug)]
pub struct VariableRequest {
    pub path: String,
    pub authorized: bool,
}

/// Serves `GET /api/w/{ws}/variables/get_value/{path}` as Windmill does (the
/// value as one JSON string, for the right bearer token) and forwards every
/// other request to a [`WindmillStandIn`], so that one base URL serves both,
/// like a job's `BASE_INTERNAL_URL`.
pub struct WindmillFront {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<VariableRequest>>>,
    pub base_url: String,
}

impl WindmillFront {
    pub fn start(standin: &WindmillStandIn, variables: &[(&str, &str)]) -> Self {
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

    pub fn variable_requests(&self) -> Vec<VariableRequest> {
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
