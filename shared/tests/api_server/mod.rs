//! A test API server: kube-rs talks to it through `tower_test`'s mock service, and a
//! handler of the test answers each request by method and path. Every request is kept,
//! for the test to check what was asked and sent.
#![allow(dead_code)]

use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower_test::mock;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub accept: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON request body")
    }

    pub fn param(&self, key: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.replace("%3D", "=").replace("%2F", "/"))
    }
}

/// What the handler answers: a status and a body, or `None` for a refused connection.
/// Status [`HANG`] never answers.
pub type Answer = Option<(u16, String)>;

/// The status that makes the server hold the request without ever answering.
pub const HANG: u16 = 0;

/// Starts the server; returns a client and the log of requests.
pub fn serve(
    mut handler: impl FnMut(&Seen) -> Answer + Send + 'static,
) -> (kube::Client, Arc<Mutex<Vec<Seen>>>) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let body = body.collect_bytes().await.expect("request body").to_vec();
            let request = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                accept: parts
                    .headers
                    .get("accept")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body,
            };
            let answer = handler(&request);
            log.lock().unwrap().push(request);
            match answer {
                Some((HANG, _)) => held.push(respond),
                Some((status, body)) => respond.send_response(
                    Response::builder()
                        .status(status)
                        .body(Body::from(body.into_bytes()))
                        .unwrap(),
                ),
                None => respond.send_error(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "connection refused",
                )),
            }
        }
    });
    (kube::Client::new(service, "default"), seen)
}

/// `GET /version` of a server running `git_version`.
pub fn version(git_version: &str) -> String {
    json!({
        "major": "1", "minor": "31", "gitVersion": git_version, "gitCommit": "abc",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
        "compiler": "gc", "platform": "linux/amd64",
    })
    .to_string()
}

/// A 404 as the API server sends it.
pub fn not_found() -> Answer {
    Some((
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not served by the test server"})
        .to_string(),
    ))
}

pub fn ok(value: Value) -> Answer {
    Some((200, value.to_string()))
}
