//! The dump formats, pure: a dump is a text block of sections, each introduced by a line
//! that is exactly `@@@ <file> @@@` (kubeadm-dind-cluster's format, so its users' scripts
//! keep working). `dump64` is the same block xz-compressed and base64-encoded, in lines of
//! at most [`BASE64_LINE`] characters between [`START_BASE64`] and [`END_BASE64`], so a
//! CI job log carries it intact. Splitting ([`super::split`]) goes the other way.

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use std::io::{Read, Write};
use std::path::{Component, Path};

/// The line that opens a dump64 block.
pub const START_BASE64: &str = "%%% start-base64 %%%";
/// The line that closes a dump64 block.
pub const END_BASE64: &str = "%%% end-base64 %%%";
/// The longest base64 line a dump64 block has.
pub const BASE64_LINE: usize = 100;

/// One file of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub body: String,
}

impl Section {
    pub fn new(name: impl Into<String>, body: impl Into<String>) -> Section {
        Section {
            name: name.into(),
            body: body.into(),
        }
    }
}

/// The marker line of a section, without its newline.
pub fn marker(name: &str) -> String {
    format!("@@@ {name} @@@")
}

/// The section name a line introduces, if it is a marker line. The name may hold spaces
/// (it is the text between the two markers), but not be empty.
pub fn marker_name(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let name = line.strip_prefix(b"@@@ ")?.strip_suffix(b" @@@")?;
    (!name.is_empty()).then_some(name)
}

/// The dump text: every section's marker line, then its body, which always ends with a
/// newline so the next marker starts a line.
pub fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    for section in sections {
        out.push_str(&marker(&section.name));
        out.push('\n');
        out.push_str(&section.body);
        if !section.body.is_empty() && !section.body.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The sections of a dump, as (name, body) bytes. Text before the first marker is dropped.
pub fn parse(dump: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut sections: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in dump.split_inclusive(|b| *b == b'\n') {
        if let Some(name) = marker_name(line) {
            sections.push((name.to_vec(), Vec::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.extend_from_slice(line);
        }
    }
    sections
}

/// The dump64 block of a dump: xz, base64, lines of at most [`BASE64_LINE`] characters.
pub fn encode64(dump: &[u8]) -> anyhow::Result<String> {
    let mut encoder = xz2::write::XzEncoder::new(Vec::new(), 9);
    encoder.write_all(dump).context("compressing the dump")?;
    let compressed = encoder.finish().context("compressing the dump")?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(compressed);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / BASE64_LINE + 64);
    out.push_str(START_BASE64);
    out.push('\n');
    // Base64 is ASCII, so byte chunks are character chunks.
    for chunk in encoded.as_bytes().chunks(BASE64_LINE) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END_BASE64);
    out.push('\n');
    Ok(out)
}

/// The most memory xz may use to decompress a dump64 block. `dump64` compresses with
/// preset 9, whose 64 MiB dictionary needs about 65 MiB to decode; a block that asks for
/// more was not made by `dump64`.
const XZ_MEMORY_LIMIT: u64 = 96 << 20;

/// Finds the first dump64 block anywhere in `log` and returns the dump it holds. The
/// whole dump is held in memory: [`compressed64`] and [`decompress`] stream it instead.
pub fn decode64(log: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut dump = Vec::new();
    decompress(&compressed64(log)?, |piece| {
        dump.extend_from_slice(piece);
        Ok(())
    })?;
    Ok(dump)
}

/// Finds the first dump64 block anywhere in `log` and returns its xz bytes.
///
/// Lines may carry a prefix, like a CI runner's timestamp: the prefix is what precedes
/// [`START_BASE64`] on its line. Each following line loses the same prefix; when a line
/// does not start with it (a timestamp that changed), it loses as many characters if the
/// prefix is glued to the payload, or everything up to its last blank if the prefix ends
/// in one (timestamps of varying width).
pub fn compressed64(log: &[u8]) -> anyhow::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(log);
    let mut lines = text.lines().enumerate();
    let prefix = loop {
        let (_, line) = lines.next().ok_or_else(|| {
            anyhow!("no dump64 block: no line ends with {START_BASE64:?} in the input")
        })?;
        if let Some(prefix) = line.trim_end_matches('\r').strip_suffix(START_BASE64) {
            break prefix.to_string();
        }
    };
    let mut encoded = String::new();
    let mut closed = false;
    for (index, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.ends_with(END_BASE64) {
            closed = true;
            break;
        }
        let payload = strip_prefix(line, &prefix);
        if let Some(bad) = payload
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
        {
            bail!(
                "line {} of the dump64 block holds {bad:?}, which is not base64: {line:?}",
                index + 1
            );
        }
        encoded.push_str(payload);
    }
    if !closed {
        bail!("the dump64 block has no {END_BASE64:?} line: the log was cut short");
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.as_bytes())
        .context("decoding the base64 of the dump64 block")
}

/// Decompresses a dump64 block's xz bytes piece by piece into `sink`, in bounded memory.
pub fn decompress(
    compressed: &[u8],
    mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, 0)
        .context("starting the xz decoder")?;
    let mut reader = xz2::read::XzDecoder::new_stream(compressed, stream);
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = reader.read(&mut buffer).with_context(|| {
            format!(
                "decompressing the dump64 block (xz, at most {} MiB of memory)",
                XZ_MEMORY_LIMIT >> 20
            )
        })?;
        if read == 0 {
            return Ok(());
        }
        sink(&buffer[..read])?;
    }
}

fn strip_prefix<'a>(line: &'a str, prefix: &str) -> &'a str {
    if let Some(rest) = line.strip_prefix(prefix) {
        return rest;
    }
    if prefix.ends_with(char::is_whitespace) {
        return line
            .rsplit_once(char::is_whitespace)
            .map_or(line, |(_, rest)| rest);
    }
    line.char_indices()
        .nth(prefix.chars().count())
        .map_or("", |(at, _)| &line[at..])
}

/// Why a section's name cannot become a file under the output directory, if it cannot.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    let path = Path::new(name);
    if name.contains('\0') {
        return Some("it holds a NUL byte");
    }
    if path.is_absolute() {
        return Some("it is an absolute path");
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Some("it climbs out with `..`");
    }
    if !path.components().any(|c| matches!(c, Component::Normal(_))) {
        return Some("it names no file");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(pairs: &[(&str, &str)]) -> Vec<Section> {
        pairs.iter().map(|(n, b)| Section::new(*n, *b)).collect()
    }

    #[test]
    fn render_and_parse_agree() {
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[], ""),
            (&[("a.txt", "one\n")], "@@@ a.txt @@@\none\n"),
            (
                &[("a.txt", "no newline"), ("b.log", "")],
                "@@@ a.txt @@@\nno newline\n@@@ b.log @@@\n",
            ),
            (
                &[("ip-a-kube-master.txt", "1: lo\n2: eth0\n"), ("x y", "z\n")],
                "@@@ ip-a-kube-master.txt @@@\n1: lo\n2: eth0\n@@@ x y @@@\nz\n",
            ),
        ];
        for (input, text) in table {
            let rendered = render(&sections(input));
            assert_eq!(rendered, *text);
            let parsed: Vec<(String, String)> = parse(rendered.as_bytes())
                .into_iter()
                .map(|(n, b)| (String::from_utf8(n).unwrap(), String::from_utf8(b).unwrap()))
                .collect();
            let want: Vec<(String, String)> = input
                .iter()
                .map(|(n, b)| {
                    let mut b = b.to_string();
                    if !b.is_empty() && !b.ends_with('\n') {
                        b.push('\n');
                    }
                    (n.to_string(), b)
                })
                .collect();
            assert_eq!(parsed, want, "{text:?}");
        }
    }

    #[test]
    fn marker_lines() {
        let table: &[(&str, Option<&str>)] = &[
            ("@@@ a.txt @@@\n", Some("a.txt")),
            ("@@@ a.txt @@@", Some("a.txt")),
            ("@@@ two words @@@\n", Some("two words")),
            ("@@@  @@@\n", None),
            ("@@@ a.txt @@@ trailing\n", None),
            (" @@@ a.txt @@@\n", None),
            ("@@@a.txt@@@\n", None),
            ("text\n", None),
        ];
        for (line, want) in table {
            assert_eq!(
                marker_name(line.as_bytes()),
                want.map(str::as_bytes),
                "{line:?}"
            );
        }
    }

    #[test]
    fn text_before_the_first_marker_is_dropped() {
        let parsed = parse(b"noise\nmore noise\n@@@ a @@@\nbody\n");
        assert_eq!(parsed, vec![(b"a".to_vec(), b"body\n".to_vec())]);
        assert!(parse(b"only noise\n").is_empty());
    }

    #[test]
    fn dump64_lines_and_markers() {
        let dump = render(&sections(&[(
            "big.txt",
            &"lorem ipsum 0123456789 ".repeat(2000),
        )]));
        // Incompressible too, so there are many lines.
        let random: String = (0..20000u32)
            .map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 25) as u8 % 90))
            .collect();
        for text in [dump, random, String::new()] {
            let block = encode64(text.as_bytes()).unwrap();
            let lines: Vec<&str> = block.lines().collect();
            assert_eq!(lines.first(), Some(&START_BASE64));
            assert_eq!(lines.last(), Some(&END_BASE64));
            assert!(lines.iter().all(|l| l.len() <= BASE64_LINE));
            assert_eq!(decode64(block.as_bytes()).unwrap(), text.as_bytes());
        }
    }

    #[test]
    fn dump64_is_found_inside_longer_logs() {
        // Text xz cannot shrink much, so the block has many lines.
        let mut state = 0x2545_f491_u32;
        let noise: String = (0..3000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect();
        let dump = render(&sections(&[("a.txt", "alpha\n"), ("b.txt", &noise)]));
        let block = encode64(dump.as_bytes()).unwrap();
        assert!(block.lines().count() > 10, "{block}");
        // (how each block line is decorated, what a line of the log around it looks like)
        type Decorate = fn(usize, &str) -> String;
        let table: &[(&str, Decorate)] = &[
            ("plain", |_, l| l.to_string()),
            ("constant prefix", |_, l| format!("[job 7] {l}")),
            ("CRLF", |_, l| format!("{l}\r")),
            ("timestamp", |i, l| {
                format!(
                    "2026-11-22T04:{:02}:{:02}.{:07}Z {l}",
                    i / 60,
                    i % 60,
                    i * 7
                )
            }),
            ("varying width", |i, l| {
                format!("{} | {l}", "9".repeat(i % 3 + 1))
            }),
            ("glued fixed-width prefix", |i, l| format!("{:04}|{l}", i)),
        ];
        for (what, decorate) in table {
            let mut log = String::new();
            let mut n = 0;
            for line in ["starting job", "@@@ not-a-dump @@@", "running"] {
                log.push_str(&decorate(n, line));
                log.push('\n');
                n += 1;
            }
            for line in block.lines() {
                log.push_str(&decorate(n, line));
                log.push('\n');
                n += 1;
            }
            log.push_str(&decorate(n, "job failed"));
            log.push('\n');
            assert_eq!(
                decode64(log.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e:#}")),
                dump.as_bytes(),
                "{what}"
            );
        }
    }

    #[test]
    fn broken_dump64_blocks_are_named() {
        let block = encode64(b"@@@ a @@@\nx\n").unwrap();
        let truncated: String = block.lines().take(2).map(|l| format!("{l}\n")).collect();
        let table = [
            ("no block here\n".to_string(), "no dump64 block"),
            (truncated, "cut short"),
            (
                format!("{START_BASE64}\nnot base64!\n{END_BASE64}\n"),
                "not base64",
            ),
        ];
        for (log, needle) in table {
            let error = format!("{:#}", decode64(log.as_bytes()).unwrap_err());
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn unsafe_names() {
        let table: &[(&str, bool)] = &[
            ("psaux-kube-master.txt", true),
            ("sub/dir.txt", true),
            ("./x", true),
            ("../../x", false),
            ("a/../../x", false),
            ("/tmp/x", false),
            (".", false),
            ("", false),
            ("a\0b", false),
        ];
        for (name, ok) in table {
            assert_eq!(unsafe_name(name).is_none(), *ok, "{name:?}");
        }
    }
}
