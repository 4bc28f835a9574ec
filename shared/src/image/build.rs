//! Builds dind's images on the Docker engine, reusing an image whose recipe is unchanged.

use super::recipe::{Recipe, BASE_IMAGE, BASE_IMAGE_HINT};
use crate::engine::Engine;
use crate::names::labels;
use crate::progress::Progress;
use anyhow::{anyhow, Context};

/// Whether an image is reused or was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reused,
    Built,
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
    let mut tail: Vec<String> = Vec::new();
    let result = engine
        .build_image(
            &recipe.tag,
            recipe.context_tar()?,
            &recipe.labels,
            &mut |line| {
                if line.starts_with("Step ") {
                    step.detail(line);
                }
                tail.push(line.to_string());
                if tail.len() > 20 {
                    tail.remove(0);
                }
            },
        )
        .await;
    let result =
        result.with_context(|| format!("the last lines of the build:\n{}", tail.join("\n")));
    step.finish(result).map(|()| Outcome::Built)
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
