//! Which node image a cluster runs, and whether that image can do what `up` is asked:
//! `--nodes-only` needs no Kubernetes, so it runs the bare image unless told otherwise
//! (no download); a Kubernetes `up` refuses an image that has none before anything is
//! created.

use crate::error::usage;
use crate::image::{node_image_tag, KubeSource};
use crate::names::labels;
use crate::settings::Settings;
use std::collections::HashMap;

/// `--nodes-only` without `--image` (or `DIND_K8S_BIN_DIR`) runs `dind-node:bare`: the
/// Kubernetes image would be downloaded and built for nothing.
pub fn choose_for_nodes_only(settings: &mut Settings, nodes_only: bool) {
    if nodes_only && settings.image.is_none() {
        settings.image = Some(node_image_tag(&KubeSource::Bare));
    }
}

/// Refuses, from the image's labels, a node image that cannot serve this `up`: one that
/// dind did not build, or one without Kubernetes for a Kubernetes cluster.
pub fn check_labels(
    image: &str,
    labels: &HashMap<String, String>,
    nodes_only: bool,
) -> anyhow::Result<()> {
    if !labels.contains_key(labels::IMAGE_RECIPE) {
        return Err(usage(format!(
            "{image} is not a dind node image (it has no {} label): build one with \
             `docker dind build-image`, or use dind-node:bare with --nodes-only",
            labels::IMAGE_RECIPE
        )));
    }
    // The bare image says `none` (image/recipe.rs); an image without the label has no
    // Kubernetes either.
    let has_kubernetes = labels
        .get(labels::IMAGE_KUBERNETES_VERSION)
        .is_some_and(|version| version != "none");
    if !nodes_only && !has_kubernetes {
        return Err(usage(format!(
            "{image} has no Kubernetes (it is a bare node image): add --nodes-only, or \
             use a Kubernetes node image (`docker dind build-image --kubernetes-version V`)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_only_runs_the_bare_image_unless_told_otherwise() {
        // (image given, nodes_only, image used)
        let table = [
            (None, true, Some("dind-node:bare")),
            (None, false, None),
            (Some("dind-node:v1.37.0"), true, Some("dind-node:v1.37.0")),
            (Some("my/node:1"), false, Some("my/node:1")),
        ];
        for (given, nodes_only, want) in table {
            let mut settings = Settings::from_env_pairs(&[]).unwrap();
            settings.image = given.map(String::from);
            choose_for_nodes_only(&mut settings, nodes_only);
            assert_eq!(settings.image.as_deref(), want, "{given:?} {nodes_only}");
        }
    }

    #[test]
    fn images_that_cannot_serve_are_refused_with_the_way_out() {
        // What `build-image --bare` labels, and an image with the recipe label alone.
        let bare = HashMap::from([
            (labels::IMAGE_RECIPE.to_string(), "h".to_string()),
            (
                labels::IMAGE_KUBERNETES_VERSION.to_string(),
                "none".to_string(),
            ),
        ]);
        let unversioned = HashMap::from([(labels::IMAGE_RECIPE.to_string(), "h".to_string())]);
        let mut kube = bare.clone();
        kube.insert(labels::IMAGE_KUBERNETES_VERSION.into(), "v1.37.0".into());
        let debian = HashMap::new();
        // (labels, nodes_only, error contains)
        let table = [
            (&bare, true, None),
            (&kube, true, None),
            (&kube, false, None),
            (&bare, false, Some("has no Kubernetes")),
            (&unversioned, false, Some("has no Kubernetes")),
            (&debian, true, Some("not a dind node image")),
            (&debian, false, Some("not a dind node image")),
        ];
        for (labels, nodes_only, want) in table {
            let got = check_labels("img", labels, nodes_only);
            match want {
                None => assert!(got.is_ok(), "{got:?}"),
                Some(text) => {
                    let error = got.unwrap_err();
                    assert!(error.to_string().contains(text), "{error}");
                    assert_eq!(crate::error::exit_code(&error), 2);
                }
            }
        }
    }
}
