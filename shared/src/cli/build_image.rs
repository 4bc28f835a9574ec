//! `build-image`: build (or reuse) the node image.

use super::{print, CommandContext, Output, SettingsFlags};
use clap::Args;
use std::path::PathBuf;

/// `build-image`: the node image, from one of three Kubernetes sources.
#[derive(Debug, Clone, Args)]
pub struct BuildImageArgs {
    /// Download this Kubernetes release (each binary checked against its published sha256).
    #[arg(long, value_name = "vX.Y.Z", conflicts_with_all = ["kube_binaries", "bare"])]
    pub kubernetes_version: Option<String>,
    /// Take kubeadm, kubelet and kubectl from this directory (build-from-source workflow).
    #[arg(long, value_name = "DIR", conflicts_with = "bare")]
    pub kube_binaries: Option<PathBuf>,
    /// With --kube-binaries: preload the control-plane image archives (*.tar) of this
    /// directory [default: _output/release-images/<arch> of the source tree DIR lies in].
    #[arg(long, value_name = "DIR2", requires = "kube_binaries")]
    pub kube_images: Option<PathBuf>,
    /// No Kubernetes at all: nodes that boot and run containers, for `up --nodes-only`.
    #[arg(long)]
    pub bare: bool,
    /// Output format of the result on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// What `build-image` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuiltImage {
    pub image: String,
    pub kubernetes_version: String,
    pub reused: bool,
}

/// `build-image`.
pub async fn build_image(args: &BuildImageArgs, ctx: &CommandContext) -> anyhow::Result<()> {
    let source = if args.bare {
        crate::image::KubeSource::Bare
    } else if let Some(dir) = &args.kube_binaries {
        crate::image::KubeSource::Local {
            binaries: dir.clone(),
            images: args.kube_images.clone(),
        }
    } else {
        let version = args
            .kubernetes_version
            .as_deref()
            .unwrap_or(crate::settings::DEFAULT_KUBERNETES_VERSION);
        let version = crate::version::KubeVersion::parse(version)?;
        version.require_supported()?;
        crate::image::KubeSource::Release(version.to_string())
    };
    // DIND_KUBE_DOWNLOAD_URL and the proxies, from the environment and the config file.
    let settings = SettingsFlags::default().settings()?;
    let recipe = crate::image::node_recipe(&source, &settings)?;
    let outcome = crate::image::ensure_image(&ctx.engine, &recipe, &ctx.progress).await?;
    let built = BuiltImage {
        image: recipe.tag.clone(),
        kubernetes_version: recipe
            .labels
            .get(crate::names::labels::IMAGE_KUBERNETES_VERSION)
            .cloned()
            .unwrap_or_default(),
        reused: outcome == crate::image::build::Outcome::Reused,
    };
    print(&built, args.output, || format!("{}\n", built.image))
}
