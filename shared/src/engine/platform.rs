//! Image platforms: what a node image runs on, and the `platform` query of an image
//! export (`GET /images/get`, API 1.48), which bollard 0.21's `export_images` cannot pass.
//!
//! On Docker's containerd image store, an export of an image whose index names platforms
//! that are not all present locally (what `docker pull` leaves) fails; exporting one
//! platform works (kind#3795 and its workaround, `docker save --platform`). The query's
//! form is moby's own client's: the platform as OCI JSON (moby client/image_save.go).

use super::Engine;
use anyhow::Context;
use bollard::Docker;

/// An OCI platform, spelled as the image config and the OCI image spec spell it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The `platform=...` query parameter of an export, URL-encoded.
    pub fn export_query(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("platform={}", percent_encode(&json))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Engine {
    /// The platform an image was built for.
    pub async fn image_platform(&self, image: &str) -> anyhow::Result<Platform> {
        let inspect = self
            .docker
            .inspect_image(image)
            .await
            .with_context(|| format!("inspecting image {image}"))?;
        Ok(Platform {
            os: inspect.os.unwrap_or_else(|| "linux".into()),
            architecture: inspect.architecture.unwrap_or_default(),
            variant: inspect.variant.filter(|v| !v.is_empty()),
        })
    }

    /// A client whose export requests carry `platform`; the query is added to every
    /// request of this copy, which only exports.
    pub(super) fn exporting_for(&self, platform: Option<&Platform>) -> Docker {
        let Some(platform) = platform else {
            return self.docker.clone();
        };
        let query = platform.export_query();
        self.docker
            .clone()
            .with_request_modifier(move |mut request| {
                let uri = request.uri().to_string();
                let separator = if uri.contains('?') { '&' } else { '?' };
                if let Ok(with_platform) = format!("{uri}{separator}{query}").parse() {
                    *request.uri_mut() = with_platform;
                }
                request
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_query_is_moby_clients_json_url_encoded() {
        let table = [
            (
                Platform {
                    os: "linux".into(),
                    architecture: "amd64".into(),
                    variant: None,
                },
                "platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22amd64%22%7D",
            ),
            (
                Platform {
                    os: "linux".into(),
                    architecture: "arm".into(),
                    variant: Some("v7".into()),
                },
                "platform=%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm%22%2C%22variant%22%3A%22v7%22%7D",
            ),
        ];
        for (platform, query) in table {
            assert_eq!(platform.export_query(), query);
        }
    }
}
