//! Builds beyond Linux: no macOS toolchain can be installed here, so this reads the
//! sources instead. Every use of Linux-only std modules must sit in an item gated by
//! `#[cfg(target_os = "linux")]`, so the crates still build on macOS, where docker hands
//! plugins a socket file rather than an abstract socket.

mod support;

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Whether line `index` lies in a top-level item (or a nested one) whose attributes
/// include `#[cfg(target_os = "linux")]`: walking up, the gate comes before any line that
/// closes a top-level item.
fn gated(lines: &[&str], index: usize) -> bool {
    for line in lines[..index].iter().rev() {
        let trimmed = line.trim();
        if trimmed.starts_with("#[cfg(target_os = \"linux\")]") {
            return true;
        }
        if line.starts_with('}') {
            return false;
        }
    }
    false
}

#[test]
fn linux_only_std_is_behind_cfg_target_os_linux() {
    // Built from parts so this file does not match itself.
    let needle = ["std::os::", "linux"].concat();
    let root = support::workspace();
    let mut files = Vec::new();
    for dir in ["shared", "kubectl-dind", "docker-dind", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut ungated = Vec::new();
    let mut gated_uses = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.contains(&needle) {
                if gated(&lines, index) {
                    gated_uses += 1;
                } else {
                    ungated.push(format!("{}:{}: {}", file.display(), index + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        ungated.is_empty(),
        "ungated Linux-only code:\n{}",
        ungated.join("\n")
    );
    // The abstract plugin socket stays, behind its gate.
    assert!(gated_uses >= 1, "the abstract-socket code is gone");
}

#[test]
fn the_gate_check_catches_an_ungated_use() {
    let source = "fn a() {}\n\n#[cfg(target_os = \"linux\")]\nfn b() {\n    use x;\n}\n\nfn c() {\n    use x;\n}\n";
    let lines: Vec<&str> = source.lines().collect();
    assert!(gated(&lines, 4));
    assert!(!gated(&lines, 8));
}
