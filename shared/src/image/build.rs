//! Builds dind's images on the Docker engine, reusing an image whose recipe is unchanged.
//!
//! The whole build output goes to a log file; a failure shows its path and, when a
//! download failed, a short message that names what failed and how to get around it,
//! instead of the log.

use super::recipe::{Recipe, BASE_IMAGE, BASE_IMAGE_HINT, DOWNLOAD_FAILED_MARKER};
use crate::engine::{BuildEnd, Engine, RAGGED_END};
use crate::names::labels;
use crate::progress::Progress;
use anyhow::{anyhow, Context};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether an image is reused or was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reused,
    Built,
}

/// How many lines of a failed build (other than a download) the error shows.
const TAIL_LINES: usize = 12;

/// What a node image build takes from a cluster's settings, as values: the image module
/// sits below the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeBuild {
    /// `DIND_KUBE_DOWNLOAD_URL`: where the Kubernetes release binaries are downloaded.
    pub kube_download_url: String,
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

/// The build args that carry proxies into an image build: Docker's predefined
/// `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (and their lower-case forms, which apt and
/// curl also read), from `DIND_HTTP_PROXY`/`DIND_HTTPS_PROXY`/`DIND_NO_PROXY`, else from
/// the process environment's own proxy variables.
pub fn proxy_build_args(
    build: &NodeBuild,
    env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    for (name, setting) in [
        ("HTTP_PROXY", &build.http_proxy),
        ("HTTPS_PROXY", &build.https_proxy),
        ("NO_PROXY", &build.no_proxy),
    ] {
        let value = setting
            .clone()
            .or_else(|| env(name))
            .or_else(|| env(&name.to_ascii_lowercase()))
            .filter(|v| !v.is_empty());
        if let Some(value) = value {
            args.insert(name.to_string(), value.clone());
            args.insert(name.to_ascii_lowercase(), value);
        }
    }
    args
}

/// The node image recipe for a Kubernetes source: the download URL of
/// `DIND_KUBE_DOWNLOAD_URL`, and the proxies as build args. Callers pass the cluster's
/// settings, which convert into a [`NodeBuild`].
pub fn node_recipe(
    source: &super::KubeSource,
    build: impl Into<NodeBuild>,
) -> anyhow::Result<Recipe> {
    let build = build.into();
    let kubernetes = super::NodeKubernetes::load(source, &build.kube_download_url)?;
    let mut recipe = Recipe::node(&kubernetes);
    recipe.build_args = proxy_build_args(&build, &|name| std::env::var(name).ok());
    Ok(recipe)
}

/// Makes sure the recipe's image exists: reuses an image with the same recipe hash,
/// otherwise builds it (pulling the base image first if it is missing).
pub async fn ensure_image(
    engine: &Engine,
    recipe: &Recipe,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let want = recipe.labels.get(labels::IMAGE_RECIPE);
    if let Some(have) = engine.image_labels(&recipe.tag).await? {
        if have.get(labels::IMAGE_RECIPE) == want {
            return Ok(Outcome::Reused);
        }
    }
    ensure_base_image(engine).await?;
    let step = progress.step(format!("Building image {}", recipe.tag));
    let log_path = log_path(&recipe.tag);
    let mut log: Vec<String> = Vec::new();
    let result = engine
        .build_image(
            &recipe.tag,
            recipe.context_tar()?,
            &recipe.labels,
            &recipe.build_args,
            &mut |line| {
                if line.starts_with("Step ") {
                    step.detail(line);
                }
                log.push(line.to_string());
            },
        )
        .await;
    if let Ok(BuildEnd::JudgedByImage) = result {
        // Said on stderr and in the log, so a ragged end never passes unnoticed.
        let note = format!(
            "{}: {RAGGED_END}; the image carries this recipe's labels, so the build finished",
            recipe.tag
        );
        log.push(note.clone());
        progress.note(note);
    }
    let written = write_log(&log_path, &log, result.as_ref().err());
    let result = result.map_err(|error| {
        let log_note = match &written {
            Ok(()) => format!("the full build log is in {}", log_path.display()),
            Err(e) => format!("the build log could not be written ({e:#})"),
        };
        failure_message(&log, &error, &log_note)
    });
    step.finish(result).map(|_| Outcome::Built)
}

/// Where the log of a build of `tag` goes: the user's cache directory, else the
/// temporary directory.
fn log_path(tag: &str) -> PathBuf {
    let name: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    dirs::cache_dir()
        .map(|d| d.join("dind"))
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("build-{name}.log"))
}

fn write_log(path: &Path, lines: &[String], error: Option<&anyhow::Error>) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    for line in lines {
        writeln!(file, "{line}")?;
    }
    if let Some(error) = error {
        writeln!(file, "{error:#}")?;
    }
    Ok(())
}

/// The error of a failed build. A failed download (the recipe's marker line) gives three
/// lines: what failed, where the log is, and the ways around it. Anything else gives the
/// daemon's error and the last lines of the build.
pub fn failure_message(log: &[String], error: &anyhow::Error, log_note: &str) -> anyhow::Error {
    let failed_url = log
        .iter()
        .rev()
        .find_map(|line| line.trim().strip_prefix(DOWNLOAD_FAILED_MARKER))
        .map(str::trim);
    if let Some(url) = failed_url {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ' ']).next())
            .unwrap_or(url);
        return anyhow!(
            "the node image build could not download {url} (host {host}); {log_note}\n\
             Behind a proxy, set DIND_HTTP_PROXY/DIND_HTTPS_PROXY (or HTTP_PROXY/HTTPS_PROXY): dind passes them to the build as build args; DIND_KUBE_DOWNLOAD_URL sets a mirror.\n\
             To build without downloading: `docker dind build-image --kube-binaries DIR` (your own kubeadm, kubelet, kubectl), or `up --image IMAGE` (a node image you have)."
        );
    }
    let tail = &log[log.len().saturating_sub(TAIL_LINES)..];
    anyhow!(
        "{error:#}; {log_note}. Its last lines:\n{}",
        tail.join("\n")
    )
}

async fn ensure_base_image(engine: &Engine) -> anyhow::Result<()> {
    if engine.image_labels(BASE_IMAGE).await?.is_some() {
        return Ok(());
    }
    engine.pull_image(BASE_IMAGE).await.map_err(|e| {
        anyhow!(
            "the base image {BASE_IMAGE} is not present and could not be pulled ({e:#}).\n\
             If no registry can be reached, provide it locally:\n  {BASE_IMAGE_HINT}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_download_is_three_lines_naming_host_file_and_ways_around() {
        let log: Vec<String> = [
            "Step 9/14 : RUN arch=...",
            "curl: (7) Failed to connect to 127.0.0.1 port 9",
            "dind-download-failed: http://127.0.0.1:9/release/v1.37.0/bin/linux/amd64/kubeadm",
            "The command '/bin/sh -c ...' returned a non-zero code: 1",
        ]
        .map(String::from)
        .to_vec();
        let message = failure_message(
            &log,
            &anyhow!("daemon says no"),
            "the full build log is in /x.log",
        )
        .to_string();
        assert!(message.lines().count() <= 3, "{message}");
        for needle in [
            "http://127.0.0.1:9/release/v1.37.0/bin/linux/amd64/kubeadm",
            "host 127.0.0.1:9",
            "/x.log",
            "DIND_HTTP_PROXY",
            "HTTPS_PROXY",
            "build args",
            "--kube-binaries DIR",
            "--image IMAGE",
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
        assert!(!message.contains("curl: (7)"), "no log dump: {message}");

        let skopeo = [
            "dind-download-failed: https://registry.k8s.io (registry.k8s.io/pause:3.10)"
                .to_string(),
        ];
        let message = failure_message(&skopeo, &anyhow!("x"), "log").to_string();
        assert!(message.contains("host registry.k8s.io)"), "{message}");
    }

    #[test]
    fn other_failures_show_the_tail_only() {
        let log: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
        let message = failure_message(&log, &anyhow!("boom"), "log at /y").to_string();
        assert!(message.starts_with("boom; log at /y"), "{message}");
        assert!(
            message.contains("line 49") && !message.contains("line 30\n"),
            "{message}"
        );
    }

    #[test]
    fn proxies_reach_the_build_as_build_args() {
        let with = NodeBuild {
            https_proxy: Some("http://proxy:3128".into()),
            ..NodeBuild::default()
        };
        let env = |name: &str| (name == "HTTP_PROXY").then(|| "http://env:8080".to_string());
        let args = proxy_build_args(&with, &env);
        assert_eq!(args["HTTPS_PROXY"], "http://proxy:3128");
        assert_eq!(args["https_proxy"], "http://proxy:3128");
        assert_eq!(
            args["HTTP_PROXY"], "http://env:8080",
            "the environment's own"
        );
        assert!(!args.contains_key("NO_PROXY"));
        assert!(proxy_build_args(&NodeBuild::default(), &|_| None).is_empty());
    }
}
