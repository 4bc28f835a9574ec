//! The committed krew manifest obeys every rule krew's validator enforces, and
//! `scripts/release.sh` writes into it the checksum of the archive it actually built.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use sha2::{Digest, Sha256};

const PLUGIN: &str = "dind";
const WORKSPACE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The os/arch pairs krew's validator checks selectors against.
const KREW_OS_ARCH_PAIRS: &[(&str, &str)] = &[
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("linux", "s390x"),
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits in the workspace")
        .to_path_buf()
}

fn committed_manifest_path() -> PathBuf {
    repo_root().join("krew").join(format!("{PLUGIN}.yaml"))
}

fn is_strict_semver(version: &str) -> bool {
    let (core, rest) = match version.find(['-', '+']) {
        Some(at) => version.split_at(at),
        None => (version, ""),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numbers_ok = numbers.len() == 3
        && numbers.iter().all(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
                && (n.len() == 1 || !n.starts_with('0'))
        });
    let suffix_ok = rest.is_empty()
        || rest[1..].split(['.', '+']).all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    numbers_ok && suffix_ok
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(*key))
        .and_then(Value::as_str)
}

/// Asserts each krew validation rule on a manifest, one assertion per rule.
fn assert_krew_rules(manifest_text: &str, file_stem: &str) {
    let manifest: Value = serde_yaml::from_str(manifest_text).expect("the manifest is YAML");

    assert_eq!(
        str_at(&manifest, &["apiVersion"]),
        Some("krew.googlecontainertools.github.com/v1alpha2"),
        "rule: apiVersion is krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(
        str_at(&manifest, &["kind"]),
        Some("Plugin"),
        "rule: kind is Plugin"
    );
    let name = str_at(&manifest, &["metadata", "name"]).unwrap_or_default();
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-'),
        "rule: metadata.name matches ^[\\w-]+$ (got {name:?})"
    );
    assert_eq!(
        name, file_stem,
        "rule: metadata.name equals the file name without .yaml"
    );

    let version = str_at(&manifest, &["spec", "version"]).unwrap_or_default();
    assert!(
        version.strip_prefix('v').is_some_and(is_strict_semver),
        "rule: spec.version is v + strict semver (got {version:?})"
    );
    assert_eq!(
        version,
        format!("v{WORKSPACE_VERSION}"),
        "rule (ours): spec.version is the workspace version with a v"
    );

    let short = str_at(&manifest, &["spec", "shortDescription"]).unwrap_or_default();
    assert!(
        !short.trim().is_empty(),
        "rule: spec.shortDescription is non-empty"
    );
    assert!(
        !short.trim_end().contains('\n'),
        "rule: spec.shortDescription is one line (got {short:?})"
    );

    let platforms = manifest["spec"]["platforms"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert!(!platforms.is_empty(), "rule: spec.platforms is non-empty");

    for (index, platform) in platforms.iter().enumerate() {
        let at = format!("platform {index}");
        let uri = str_at(platform, &["uri"]).unwrap_or_default();
        assert!(!uri.is_empty(), "rule: {at} has a uri");
        assert!(
            uri.ends_with(".tar.gz") || uri.ends_with(".zip"),
            "rule: {at}'s archive is .tar.gz or .zip (got {uri:?})"
        );
        assert!(
            uri.contains(&format!("/releases/download/{version}/")),
            "rule (ours): {at}'s uri is this version's release (got {uri:?})"
        );
        let sha = str_at(platform, &["sha256"]).unwrap_or_default();
        assert!(
            sha.len() == 64 && sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "rule: {at} has a lowercase 64-hex sha256 (got {sha:?})"
        );
        let bin = str_at(platform, &["bin"]).unwrap_or_default();
        assert!(!bin.is_empty(), "rule: {at} has a bin");
        assert_eq!(
            bin, "kubectl-dind",
            "rule (ours): {at}'s bin is kubectl-dind"
        );

        let selector = platform["selector"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let labels = selector
            .get("matchLabels")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        assert!(!labels.is_empty(), "rule: {at} has a non-empty selector");
        assert!(
            selector
                .keys()
                .all(|key| key.as_str() == Some("matchLabels"))
                && labels
                    .keys()
                    .all(|key| matches!(key.as_str(), Some("os" | "arch"))),
            "rule: {at}'s selector uses only os/arch labels (got {selector:?})"
        );

        match &platform["files"] {
            Value::Null => {}
            files => {
                let files = files.as_sequence().cloned().unwrap_or_default();
                assert!(
                    !files.is_empty()
                        && files.iter().all(|file| {
                            str_at(file, &["from"]).is_some_and(|from| !from.is_empty())
                                && str_at(file, &["to"]).is_some_and(|to| !to.is_empty())
                        }),
                    "rule: {at}'s files are absent or each has from and to"
                );
                let sources: Vec<&str> =
                    files.iter().filter_map(|f| str_at(f, &["from"])).collect();
                assert!(
                    sources.iter().any(|from| {
                        let base = from.rsplit('/').next().unwrap_or(from).to_ascii_uppercase();
                        ["LICENSE", "LICENCE", "COPYING"]
                            .iter()
                            .any(|license| base.starts_with(license))
                    }),
                    "rule: {at} installs a license file (files: {sources:?})"
                );
                assert!(
                    sources.contains(&bin),
                    "rule: {at}'s bin {bin} is among the installed files"
                );
            }
        }
    }

    for (os, arch) in KREW_OS_ARCH_PAIRS {
        let matching = platforms
            .iter()
            .filter(|platform| {
                let labels = &platform["selector"]["matchLabels"];
                [("os", *os), ("arch", *arch)].iter().all(|(key, want)| {
                    labels
                        .get(*key)
                        .is_none_or(|got| got.as_str() == Some(*want))
                })
            })
            .count();
        assert!(
            matching <= 1,
            "rule: each os/arch pair is matched by at most one platform ({os}/{arch}: {matching})"
        );
    }
}

#[test]
fn committed_manifest_obeys_every_krew_rule() {
    let path = committed_manifest_path();
    let text = std::fs::read_to_string(&path).expect("krew/dind.yaml exists");
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    assert_krew_rules(&text, stem);
}

#[test]
fn committed_manifest_covers_linux_amd64() {
    let text = std::fs::read_to_string(committed_manifest_path()).unwrap();
    let manifest: Value = serde_yaml::from_str(&text).unwrap();
    let pairs: Vec<(String, String)> = manifest["spec"]["platforms"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            let labels = &p["selector"]["matchLabels"];
            (
                labels["os"].as_str().unwrap().to_string(),
                labels["arch"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        pairs.contains(&("linux".into(), "amd64".into())),
        "the release script ran for linux/amd64 at least: {pairs:?}"
    );
}

#[test]
fn the_rule_checks_reject_broken_manifests() {
    let good = std::fs::read_to_string(committed_manifest_path()).unwrap();
    let breakages = [
        ("name: dind", "name: dind!"),
        ("version: v0.1.0", "version: 0.1.0"),
        ("sha256: ", "sha256: ABC"),
        (
            "        arch: amd64\n",
            "        arch: amd64\n        flavour: x\n",
        ),
        ("      - from: LICENSE\n        to: .\n", ""),
        (".tar.gz\n", ".tar.xz\n"),
    ];
    for (from, to) in breakages {
        assert!(good.contains(from), "the fixture has {from:?}");
        let broken = good.replacen(from, to, 1);
        let outcome = std::panic::catch_unwind(|| assert_krew_rules(&broken, PLUGIN));
        assert!(
            outcome.is_err(),
            "replacing {from:?} with {to:?} must break a rule"
        );
    }
    let outcome = std::panic::catch_unwind(|| assert_krew_rules(&good, "other-name"));
    assert!(
        outcome.is_err(),
        "a name that is not the file stem breaks a rule"
    );
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn platform_entry<'a>(manifest: &'a Value, os: &str, arch: &str) -> Option<&'a Value> {
    manifest["spec"]["platforms"]
        .as_sequence()?
        .iter()
        .find(|p| {
            let labels = &p["selector"]["matchLabels"];
            labels["os"].as_str() == Some(os) && labels["arch"].as_str() == Some(arch)
        })
}

struct ReleaseRun {
    dist: PathBuf,
    manifest: Value,
    manifest_text: String,
}

/// Runs scripts/release.sh on stand-in binaries for `targets`, against a copy of the
/// committed manifest with `extra_entries` appended to its platforms.
fn run_release(work: &Path, run: &str, targets: &[&str], extra_entries: &str) -> ReleaseRun {
    let binaries = work.join("stand-in-binaries");
    for target in targets {
        let dir = binaries.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for binary in ["kubectl-dind", "kubectl_complete-dind", "docker-dind"] {
            std::fs::write(
                dir.join(binary),
                format!("stand-in {binary} for {target}\n"),
            )
            .unwrap();
        }
    }
    let manifest_path = work.join(run).join("dind.yaml");
    std::fs::create_dir_all(manifest_path.parent().unwrap()).unwrap();
    let committed = std::fs::read_to_string(committed_manifest_path()).unwrap();
    std::fs::write(&manifest_path, committed + extra_entries).unwrap();
    let dist = work.join(run).join("dist");

    let output = Command::new("bash")
        .arg(repo_root().join("scripts/release.sh"))
        .args(targets)
        .env("DIND_RELEASE_BINARIES_DIR", &binaries)
        .env("DIND_RELEASE_DIST", &dist)
        .env("DIND_RELEASE_MANIFEST", &manifest_path)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "release.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest_text = std::fs::read_to_string(&manifest_path).unwrap();
    ReleaseRun {
        dist,
        manifest: serde_yaml::from_str(&manifest_text).unwrap(),
        manifest_text,
    }
}

fn archive_listing(archive: &Path) -> BTreeSet<String> {
    let output = Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(output.status.success(), "{archive:?} is a gzipped tar");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn archived_file(archive: &Path, member: &str) -> String {
    let output = Command::new("tar")
        .arg("-xzOf")
        .arg(archive)
        .arg(member)
        .output()
        .unwrap();
    assert!(output.status.success(), "{member} in {archive:?}");
    String::from_utf8(output.stdout).unwrap()
}

const STAND_IN_SHA: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

fn stand_in_entry(os: &str, arch: &str, version: &str) -> String {
    format!(
        "  - selector:\n      matchLabels:\n        os: {os}\n        arch: {arch}\n    \
         uri: https://github.com/dind-dev/dind/releases/download/{version}/stand-in-{os}-{arch}.tar.gz\n    \
         sha256: {STAND_IN_SHA}\n    bin: kubectl-dind\n    files:\n      - from: kubectl-dind\n        to: .\n      \
         - from: LICENSE\n        to: .\n"
    )
}

#[test]
fn release_script_writes_the_sha256_of_the_archives_it_built() {
    let work = tempfile::tempdir().unwrap();
    let version = format!("v{WORKSPACE_VERSION}");
    let extra =
        stand_in_entry("linux", "arm64", &version) + &stand_in_entry("darwin", "amd64", "v0.0.1");
    let release = run_release(
        work.path(),
        "first",
        &["x86_64-unknown-linux-gnu", "aarch64-apple-darwin"],
        &extra,
    );

    for (os, arch, target) in [
        ("linux", "amd64", "x86_64-unknown-linux-gnu"),
        ("darwin", "arm64", "aarch64-apple-darwin"),
    ] {
        let entry = platform_entry(&release.manifest, os, arch)
            .unwrap_or_else(|| panic!("{os}/{arch} was built, so it is in the manifest"));
        let uri = entry["uri"].as_str().unwrap();
        let archive_name = format!("dind-{version}-{os}-{arch}.tar.gz");
        assert_eq!(
            uri,
            format!("https://github.com/dind-dev/dind/releases/download/{version}/{archive_name}")
        );
        let archive = release.dist.join(&archive_name);
        assert_eq!(
            entry["sha256"].as_str(),
            Some(sha256_hex(&archive).as_str()),
            "{os}/{arch}: the manifest holds the built archive's sha256"
        );
        assert_eq!(
            archive_listing(&archive),
            BTreeSet::from([
                "kubectl-dind".into(),
                "kubectl_complete-dind".into(),
                "docker-dind".into(),
                "LICENSE".into()
            ])
        );
        let installed: Vec<&str> = entry["files"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|f| f["from"].as_str())
            .collect();
        assert!(
            installed.contains(&"kubectl_complete-dind"),
            "{os}/{arch}: krew installs the completion helper too: {installed:?}"
        );
        assert_eq!(
            archived_file(&archive, "docker-dind"),
            format!("stand-in docker-dind for {target}\n")
        );
        assert_eq!(
            archived_file(&archive, "LICENSE"),
            std::fs::read_to_string(repo_root().join("LICENSE")).unwrap()
        );
    }

    let kept = platform_entry(&release.manifest, "linux", "arm64")
        .expect("a same-version platform that was not built keeps its entry");
    assert_eq!(kept["sha256"].as_str(), Some(STAND_IN_SHA));
    assert!(
        platform_entry(&release.manifest, "darwin", "amd64").is_none(),
        "an entry for another version is dropped: its sha256 is of an old archive"
    );
    assert_krew_rules(&release.manifest_text, PLUGIN);

    let again = run_release(work.path(), "second", &["x86_64-unknown-linux-gnu"], "");
    let archive_name = format!("dind-{version}-linux-amd64.tar.gz");
    assert_eq!(
        sha256_hex(&again.dist.join(&archive_name)),
        sha256_hex(&release.dist.join(&archive_name)),
        "the same binaries give the same archive"
    );
}
