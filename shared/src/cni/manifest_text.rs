//! Line helpers for the manifest patches ([`super::flannel`], [`super::weave`]): they
//! edit upstream YAML as text, so every line they do not change stays as published.

/// The indentation of a manifest's line, in spaces.
pub(super) fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// A manifest's `lines` with `lines[from..to]` replaced by `insert`, every other line as
/// it was: the patches keep the upstream text, comments included, but for their change.
pub(super) fn splice(lines: &[&str], from: usize, to: usize, insert: Vec<String>) -> String {
    let mut out: Vec<String> = lines[..from].iter().map(|l| l.to_string()).collect();
    out.extend(insert);
    out.extend(lines[to..].iter().map(|l| l.to_string()));
    let mut text = out.join("\n");
    text.push('\n');
    text
}
