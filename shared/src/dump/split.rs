//! Splitting a dump into files under one directory as it streams in, so a dump of any
//! size (or an xz bomb in a CI log) costs a bounded amount of memory and stops at a
//! size limit. Files are created without following symbolic links: a link already in the
//! directory, or a linked folder on a section's path, refuses that section and names the
//! link, so nothing is ever written outside the directory.

use super::format::{marker_name, unsafe_name};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// How many bytes of dump `split-dump` and `split-dump64` write unless told otherwise:
/// far above any real cluster's dump, far below what fills a disk or a CI runner.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

/// The longest line still read as a possible section marker; longer lines are body text
/// and pass through without being held (a path cannot be longer than `PATH_MAX` anyway).
const MAX_MARKER_LINE: usize = 4096 + "@@@  @@@\n".len();

/// What splitting wrote and what it refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SplitOutcome {
    pub written: Vec<PathBuf>,
    /// (section name, why it was refused)
    pub refused: Vec<(String, String)>,
}

/// Where the body lines of the current section go.
enum Target {
    /// Text before the first marker: dropped.
    Nowhere,
    /// A refused section: its body is dropped.
    Refused,
    File(File, PathBuf),
}

/// Writes the sections of a dump, fed in pieces of any size, to files under one directory.
pub struct Splitter {
    dir: PathBuf,
    limit: u64,
    seen: u64,
    /// The current line so far, while it may still be a marker line.
    line: Vec<u8>,
    /// The current line is body text already passed on (it cannot be a marker).
    in_body_line: bool,
    target: Target,
    opened: BTreeSet<PathBuf>,
    outcome: SplitOutcome,
}

impl Splitter {
    /// Creates `dir` if needed. More than `limit` bytes of dump is an error.
    pub fn new(dir: &Path, limit: u64) -> anyhow::Result<Splitter> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Splitter {
            dir: dir.to_path_buf(),
            limit,
            seen: 0,
            line: Vec::new(),
            in_body_line: false,
            target: Target::Nowhere,
            opened: BTreeSet::new(),
            outcome: SplitOutcome::default(),
        })
    }

    /// Takes the next piece of the dump. Past the limit, what fits is written and the
    /// error says where it stopped.
    pub fn feed(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let room = self.limit.saturating_sub(self.seen);
        let fits = usize::try_from(room).map_or(data.len(), |room| room.min(data.len()));
        self.seen += fits as u64;
        let mut rest = &data[..fits];
        while !rest.is_empty() {
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let (piece, after) = rest.split_at(end);
            rest = after;
            let line_ends = piece.ends_with(b"\n");
            if self.in_body_line {
                self.body(piece)?;
            } else {
                self.line.extend_from_slice(piece);
                if !may_be_marker(&self.line) {
                    let held = std::mem::take(&mut self.line);
                    self.body(&held)?;
                    self.in_body_line = !line_ends;
                } else if line_ends {
                    self.end_line()?;
                }
            }
            if line_ends {
                self.in_body_line = false;
            }
        }
        if fits < data.len() {
            bail!(
                "the dump is larger than {} (the --max-size limit): stopped after writing that much \
                 to {}; raise --max-size to split all of it",
                human_size(self.limit),
                self.dir.display()
            );
        }
        Ok(())
    }

    /// Ends the dump (a last line without a newline counts) and says what was written.
    pub fn finish(mut self) -> anyhow::Result<SplitOutcome> {
        if !self.line.is_empty() {
            self.end_line()?;
        }
        if let Target::File(file, path) = &mut self.target {
            file.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(self.outcome)
    }

    fn end_line(&mut self) -> anyhow::Result<()> {
        let line = std::mem::take(&mut self.line);
        match marker_name(&line) {
            Some(name) => {
                let name = String::from_utf8_lossy(name).into_owned();
                self.target = match self.open(&name) {
                    Ok(target) => target,
                    Err(why) => {
                        self.outcome.refused.push((name, why));
                        Target::Refused
                    }
                };
                Ok(())
            }
            None => self.body(&line),
        }
    }

    fn body(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match &mut self.target {
            Target::File(file, path) => file
                .write_all(bytes)
                .with_context(|| format!("writing {}", path.display())),
            Target::Nowhere | Target::Refused => Ok(()),
        }
    }

    /// The file of section `name`, or why it cannot be written. A name seen again
    /// appends to what its first section wrote.
    fn open(&mut self, name: &str) -> Result<Target, String> {
        if let Some(why) = unsafe_name(name) {
            return Err(why.to_string());
        }
        let parts: Vec<_> = Path::new(name)
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => Some(part),
                _ => None,
            })
            .collect();
        let (file_name, folders) = parts.split_last().ok_or("it names no file")?;
        let mut path = self.dir.clone();
        for folder in folders {
            path.push(folder);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(format!("{} is a symbolic link", path.display()))
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(format!("{} is a file, not a folder", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(&path)
                        .map_err(|e| format!("creating {}: {e}", path.display()))?;
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        path.push(file_name);
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if meta.file_type().is_symlink() {
                return Err(format!("{} is a symbolic link", path.display()));
            }
            if meta.is_dir() {
                return Err(format!("{} is a folder", path.display()));
            }
        }
        let first = self.opened.insert(path.clone());
        let file =
            open_no_follow(&path, first).map_err(|e| format!("writing {}: {e}", path.display()))?;
        if first {
            self.outcome.written.push(path.clone());
        }
        Ok(Target::File(file, path))
    }
}

/// Whether a line begun with these bytes can still turn out to be a marker line.
fn may_be_marker(line: &[u8]) -> bool {
    let start = &line[..line.len().min(4)];
    line.len() <= MAX_MARKER_LINE && b"@@@ ".starts_with(start)
}

/// Opens a section's file for writing, truncated the first time, refusing a symbolic
/// link in the last component even if one appeared since it was checked.
fn open_no_follow(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .create(true)
        .write(true)
        .truncate(truncate)
        .append(!truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// `2 GiB`, `256 MiB`, `1000 bytes`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes.is_multiple_of(*unit))
        .map_or(format!("{bytes} bytes"), |(unit, name)| {
            format!("{} {name}", bytes / unit)
        })
}

/// Parses `--max-size`: bytes, or a number with `K`, `M`, `G` or `T` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or(lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("invalid size {text:?}: use e.g. 500M, 2G or 4T")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size {text:?}: use e.g. 500M, 2G or 4T"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `dump` fed in pieces of `piece` bytes.
    fn split_in_pieces(dump: &[u8], dir: &Path, piece: usize) -> SplitOutcome {
        let mut splitter = Splitter::new(dir, u64::MAX).unwrap();
        for chunk in dump.chunks(piece.max(1)) {
            splitter.feed(chunk).unwrap();
        }
        splitter.finish().unwrap()
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn pieces_of_any_size_give_the_same_files() {
        let long_body = "x".repeat(3 * MAX_MARKER_LINE);
        let dump = format!(
            "noise\n@@@ not a marker\n@@@ a.txt @@@\none\n@@@ fake @@@ trailing\n{long_body}\n\
             @@@ sub/b.log @@@\n@@@ a.txt @@@\ntwo\n@@@ last @@@"
        );
        for piece in [1, 2, 3, 5, 7, 64, 4096, dump.len()] {
            let root = tempfile::tempdir().unwrap();
            let outcome = split_in_pieces(dump.as_bytes(), root.path(), piece);
            let dir = root.path();
            assert_eq!(
                outcome.written,
                [dir.join("a.txt"), dir.join("sub/b.log"), dir.join("last")],
                "piece {piece}"
            );
            assert!(outcome.refused.is_empty());
            assert_eq!(
                read(&dir.join("a.txt")),
                format!("one\n@@@ fake @@@ trailing\n{long_body}\ntwo\n"),
                "piece {piece}"
            );
            assert_eq!(read(&dir.join("sub/b.log")), "");
            assert_eq!(read(&dir.join("last")), "");
        }
    }

    #[test]
    fn the_limit_stops_the_split() {
        let root = tempfile::tempdir().unwrap();
        let mut splitter = Splitter::new(root.path(), 20).unwrap();
        splitter.feed(b"@@@ a @@@\n0123456").unwrap();
        let error = splitter.feed(b"789abcdef").unwrap_err().to_string();
        assert!(error.contains("larger than 20 bytes"), "{error}");
        assert!(error.contains("--max-size"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn links_are_refused_by_name_and_the_rest_is_written() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim.txt"), "untouched").unwrap();
        let dir = root.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(outside.join("victim.txt"), dir.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("linked")).unwrap();
        let dump = b"@@@ link.txt @@@\nevil\n@@@ linked/new.txt @@@\nevil\n\
                     @@@ a @@@\nfile a\n@@@ a/b @@@\nunder a file\n@@@ ok.txt @@@\nfine\n";
        let outcome = split_in_pieces(dump, &dir, 1 << 16);
        let refused: Vec<(&str, &str)> = outcome
            .refused
            .iter()
            .map(|(n, w)| (n.as_str(), w.as_str()))
            .collect();
        let link = format!("{} is a symbolic link", dir.join("link.txt").display());
        let folder = format!("{} is a symbolic link", dir.join("linked").display());
        let file = format!("{} is a file, not a folder", dir.join("a").display());
        assert_eq!(
            refused,
            [
                ("link.txt", link.as_str()),
                ("linked/new.txt", folder.as_str()),
                ("a/b", file.as_str())
            ]
        );
        assert_eq!(read(&outside.join("victim.txt")), "untouched");
        assert!(!outside.join("new.txt").exists());
        assert_eq!(read(&dir.join("a")), "file a\n");
        assert_eq!(read(&dir.join("ok.txt")), "fine\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_that_appears_after_the_check_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("target.txt");
        std::fs::write(&target, "untouched").unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_no_follow(&link, true).is_err());
        assert_eq!(read(&target), "untouched");
    }

    #[test]
    fn sizes() {
        let table: &[(&str, Option<u64>)] = &[
            ("2G", Some(2 << 30)),
            ("2GiB", Some(2 << 30)),
            ("500m", Some(500 << 20)),
            ("1024", Some(1024)),
            ("4T", Some(4 << 40)),
            ("0", None),
            ("", None),
            ("-1", None),
            ("1.5G", None),
            ("99999999999T", None),
            ("inf", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_size(text).ok(), *want, "{text}");
        }
        assert_eq!(human_size(DEFAULT_MAX_SIZE), "2 GiB");
        assert_eq!(human_size(20), "20 bytes");
    }
}
