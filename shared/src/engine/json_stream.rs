//! Docker's JSON-message streams (build, pull) as bollard delivers them, with the one
//! end bollard 0.21 gets wrong told apart from a failure.
//!
//! moby ends every message with `\r\n` (`streamNewline`, moby
//! `daemon/internal/streamformatter/streamformatter.go`). bollard 0.21.1's
//! `JsonLineDecoder` (`src/read.rs`) splits on `\n` and has no `decode_eof`: when a read
//! boundary falls between the last message and its `\r\n`, or whitespace follows it, a
//! lone `\r` stays in its buffer, and tokio-util's default `decode_eof` ends the stream
//! with "bytes remaining on stream" although every message arrived (bollard#560, fixed
//! upstream by bollard#733, not released in 0.21.1). The same error also ends a body cut
//! inside a message, so a [`Next::RaggedEnd`] is never success by itself: the caller
//! checks what the operation was meant to leave behind.

use std::collections::{BTreeMap, HashMap};

/// One item of a message stream, as dind reads it.
#[derive(Debug)]
pub(super) enum Next<T> {
    Message(T),
    /// The body ended with bytes bollard could not decode; every whole message before
    /// them was delivered.
    RaggedEnd,
}

/// tokio-util's error for bytes left in a decoder's buffer at the end of the body.
const BYTES_REMAINING: &str = "bytes remaining on stream";

/// Reads one item of a bollard message stream: its decoder's end-of-body leftover is a
/// [`Next::RaggedEnd`]; every other error stays an error.
pub(super) fn classify<T>(
    item: Result<T, bollard::errors::Error>,
) -> Result<Next<T>, bollard::errors::Error> {
    match item {
        Ok(message) => Ok(Next::Message(message)),
        Err(bollard::errors::Error::IOError { err })
            if err.kind() == std::io::ErrorKind::Other && err.to_string() == BYTES_REMAINING =>
        {
            Ok(Next::RaggedEnd)
        }
        Err(other) => Err(other),
    }
}

/// The labels of `wanted` that `have` lacks or holds with another value: empty when an
/// image carries every label a build gave it.
pub(super) fn labels_lacking<'a>(
    wanted: &'a BTreeMap<String, String>,
    have: &HashMap<String, String>,
) -> Vec<&'a str> {
    wanted
        .iter()
        .filter(|(key, value)| have.get(*key) != Some(value))
        .map(|(key, _)| key.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BuildEnd, Engine};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{UnixListener, UnixStream};

    const TAG: &str = "dind-test:stream";
    const RECIPE: &str = "dind.image-recipe";

    /// What the stand-in daemon answers: the build body as HTTP chunks (one chunk reaches
    /// bollard's decoder as one read, so a shape arrives exactly as written), and the
    /// labels of the image under TAG, if there is one.
    #[derive(Clone)]
    struct Script {
        chunks: Vec<&'static str>,
        image: Option<&'static str>,
    }

    /// A Docker daemon on a Unix socket that knows `POST /build` and
    /// `GET /images/TAG/json`; it records every request line.
    async fn daemon(script: Script) -> (tempfile::TempDir, Engine, Arc<Mutex<Vec<String>>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                tokio::spawn(serve(connection, script.clone(), seen.clone()));
            }
        });
        let docker = bollard::Docker::connect_with_unix(
            socket.to_str().expect("utf-8"),
            30,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("client");
        (dir, Engine::new(docker), requests)
    }

    async fn serve(connection: UnixStream, script: Script, seen: Arc<Mutex<Vec<String>>>) {
        let mut reader = BufReader::new(connection);
        loop {
            let mut request = String::new();
            if reader.read_line(&mut request).await.unwrap_or(0) == 0 {
                return;
            }
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).await.expect("header");
                let lower = header.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().expect("length");
                }
                if header == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).await.expect("body");
            let path = request.split(' ').nth(1).unwrap_or_default().to_string();
            seen.lock().expect("lock").push(path.clone());
            let out = reader.get_mut();
            if path.contains("/build?") {
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await.expect("write");
                for chunk in &script.chunks {
                    let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
                    out.write_all(framed.as_bytes()).await.expect("write");
                    out.flush().await.expect("flush");
                }
                out.write_all(b"0\r\n\r\n").await.expect("write");
            } else {
                let (status, body) = match script.image {
                    Some(recipe) if path.contains(&format!("/images/{TAG}/json")) => (
                        "200 OK",
                        format!(
                            r#"{{"Id":"sha256:1","Config":{{"Labels":{{"{RECIPE}":"{recipe}"}}}}}}"#
                        ),
                    ),
                    _ => (
                        "404 Not Found",
                        r#"{"message":"No such image"}"#.to_string(),
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                out.write_all(head.as_bytes()).await.expect("write");
                out.write_all(body.as_bytes()).await.expect("write");
            }
            out.flush().await.expect("flush");
        }
    }

    const STEP: &str = r#"{"stream":"Step 1/1 : FROM scratch\n"}"#;
    const TAGGED: &str = r#"{"stream":"Successfully tagged dind-test:stream\n"}"#;

    /// One row: the shape's name, its chunks, the recipe of the image under TAG, the
    /// result (`Err` holds a needle of the error) and whether the image was asked about.
    type Case = (
        &'static str,
        Vec<&'static str>,
        Option<&'static str>,
        Result<BuildEnd, &'static str>,
        bool,
    );

    #[tokio::test]
    async fn build_streams_judged_by_their_shape_and_the_image() {
        // (shape, image under TAG with this recipe, expected: Ok(end) or Err(needle),
        // whether the image was asked about)
        let ok_judged = Ok(BuildEnd::JudgedByImage);
        let table: Vec<Case> = vec![
            (
                "CRLF split from the last message",
                vec![STEP, "\r\n", TAGGED, "\r\n"],
                Some("r1"),
                ok_judged,
                true,
            ),
            (
                "blank line after the last message",
                vec![STEP, "\r\n", TAGGED, "\r\n\r\n"],
                Some("r1"),
                ok_judged,
                true,
            ),
            (
                "blank line in its own chunk",
                vec![TAGGED, "\r\n", "\r\n"],
                Some("r1"),
                ok_judged,
                true,
            ),
            (
                "last message cut short, no image",
                vec![TAGGED, "\r\n", r#"{"stream":"Succ"#],
                None,
                Err("no image dind-test:stream exists"),
                true,
            ),
            (
                "CRLF split, an older image under the tag",
                vec![TAGGED, "\r\n"],
                Some("r0"),
                Err(RECIPE),
                true,
            ),
            (
                "last message without a newline",
                vec![STEP, "\r\n", TAGGED],
                None,
                Ok(BuildEnd::Complete),
                false,
            ),
            (
                "whole messages",
                vec!["{\"stream\":\"Step 1/1\\n\"}\r\n{\"stream\":\"done\\n\"}\r\n"],
                None,
                Ok(BuildEnd::Complete),
                false,
            ),
            (
                "an error split over chunks",
                vec![
                    r#"{"errorDetail":{"message":"boom"},"#,
                    r#""error":"boom"}"#,
                    "\r\n",
                ],
                Some("r1"),
                Err("boom"),
                false,
            ),
        ];
        for (shape, chunks, image, expected, inspected) in table {
            let (_dir, engine, requests) = daemon(Script { chunks, image }).await;
            let labels = BTreeMap::from([(RECIPE.to_string(), "r1".to_string())]);
            let mut lines = Vec::new();
            let got = engine
                .build_image(TAG, vec![0; 512], &labels, &BTreeMap::new(), &mut |l| {
                    lines.push(l.to_string())
                })
                .await;
            match (&got, &expected) {
                (Ok(end), Ok(want)) => assert_eq!(end, want, "{shape}"),
                (Err(e), Err(needle)) => {
                    assert!(format!("{e:#}").contains(needle), "{shape}: {e:#}")
                }
                _ => panic!("{shape}: got {got:?}, want {expected:?}"),
            }
            let asked = requests
                .lock()
                .expect("lock")
                .iter()
                .any(|p| p.contains("/images/"));
            assert_eq!(
                asked,
                inspected,
                "{shape}: {:?}",
                requests.lock().expect("lock")
            );
        }
    }

    #[test]
    fn labels_an_image_lacks() {
        let wanted = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        // (labels the image has, labels it lacks)
        type Row = (
            &'static [(&'static str, &'static str)],
            &'static [&'static str],
        );
        let table: [Row; 4] = [
            (&[("a", "1"), ("b", "2"), ("c", "3")], &[]),
            (&[("a", "1")], &["b"]),
            (&[("a", "1"), ("b", "3")], &["b"]),
            (&[], &["a", "b"]),
        ];
        for (have, lacking) in table {
            let have: HashMap<String, String> = have
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(labels_lacking(&wanted, &have), lacking.to_vec(), "{have:?}");
        }
    }
}
