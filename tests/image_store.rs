//! Images on both of Docker's image stores (the classic one and the containerd one, the
//! default of Docker 29's new installs): `load` of a built image and of a *partial*
//! multi-platform image into 3 nodes, then a snapshot, `down`, a restore that keeps a
//! file, and `clean`.
//!
//! The partial image is what `docker pull` leaves on the containerd store: an index that
//! names two platforms while only one is present. No registry is reachable here, so the
//! test writes one as an OCI layout (whose second platform's manifest is absent) and
//! `docker load`s it. On the containerd store a plain `docker save` of it fails, which is
//! what breaks kind's `load docker-image` (kind#3795); dind's `load` exports only the
//! nodes' platform. The Docker 28 stages run this on both stores
//! (scripts/test-docker28.sh, D28_IMAGE_STORE).

mod support;

use sha2::{Digest, Sha256};
use std::path::Path;
use support::*;

const CLUSTER: &str = "171";
const PARTIAL: &str = "dind-partial:1";
const BUILT: &str = "dind-store-busybox:1";

/// A blob of the layout: its bytes and OCI descriptor fields.
struct Blob {
    digest: String,
    size: usize,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn put_blob(dir: &Path, bytes: &[u8]) -> Blob {
    let hex = sha256_hex(bytes);
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).expect("write blob");
    Blob {
        digest: format!("sha256:{hex}"),
        size: bytes.len(),
    }
}

/// Docker's name of this machine's architecture, as images record it.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Writes `image` as an OCI layout archive at `archive`: one layer, a config and a manifest
/// for this machine's platform, and an index naming that manifest and a second
/// platform's, whose blob is absent. `manifest.json` lets the classic store load it too.
fn write_partial_image(archive: &Path, image: &str) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("layout");
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
    let files = root.path().join("files");
    std::fs::create_dir(&files).expect("mkdir");
    std::fs::write(files.join("partial.txt"), "one platform of two\n").expect("write");
    let layer_tar = root.path().join("layer.tar");
    let tarred = std::process::Command::new("tar")
        .args(["-C", files.to_str().expect("utf-8"), "-cf"])
        .arg(&layer_tar)
        .arg("partial.txt")
        .status()
        .expect("tar runs");
    assert!(tarred.success());
    let layer_bytes = std::fs::read(&layer_tar).expect("read layer");
    let layer = put_blob(&dir, &layer_bytes);
    let arch = docker_arch();
    let config = put_blob(
        &dir,
        serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        })
        .to_string()
        .as_bytes(),
    );
    let manifest = put_blob(
        &dir,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer.digest, "size": layer.size}],
        })
        .to_string()
        .as_bytes(),
    );
    // The other platform's manifest: named by the index, never written.
    let other_arch = if arch == "arm64" { "amd64" } else { "arm64" };
    let absent = format!("sha256:{}", sha256_hex(b"the absent platform's manifest"));
    let index = put_blob(
        &dir,
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": manifest.digest, "size": manifest.size,
                 "platform": {"architecture": arch, "os": "linux"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": absent, "size": 512,
                 "platform": {"architecture": other_arch, "os": "linux"}},
            ],
        })
        .to_string()
        .as_bytes(),
    );
    let (name, tag) = image.rsplit_once(':').expect("name:tag");
    std::fs::write(
        dir.join("index.json"),
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": index.digest, "size": index.size,
                "annotations": {
                    "io.containerd.image.name": format!("docker.io/library/{name}:{tag}"),
                    "org.opencontainers.image.ref.name": tag,
                },
            }],
        })
        .to_string(),
    )
    .expect("index.json");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let blob_path = |b: &Blob| format!("blobs/sha256/{}", b.digest.trim_start_matches("sha256:"));
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::json!([{
            "Config": blob_path(&config),
            "RepoTags": [image],
            "Layers": [blob_path(&layer)],
        }])
        .to_string(),
    )
    .expect("manifest.json");
    let archived = std::process::Command::new("tar")
        .args(["-C", dir.to_str().expect("utf-8"), "-cf"])
        .arg(archive)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(archived.success());
}

/// The image references a node's containerd holds in namespace k8s.io.
async fn node_images(engine: &dind::engine::Engine, node: &str) -> String {
    exec(engine, node, &["ctr", "-n", "k8s.io", "images", "ls", "-q"]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn load_snapshot_and_restore_on_this_image_store() {
    let Some(engine) = docker().await else { return };
    ensure_images();
    let containerd_store = engine.host_info().await.expect("info").containerd_store;
    let mut cleanup = RemoveOnDrop::default();
    let _clean = CleanOnDrop::cluster(&["--cluster-id", CLUSTER]);
    run_ok("docker-dind", &["clean", "--cluster-id", CLUSTER], &[]);

    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("partial.tar");
    write_partial_image(&archive, PARTIAL);
    cleanup.images.push(PARTIAL.into());
    let loaded = docker_cli(&["load", "-i", archive.to_str().expect("utf-8")]);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    if containerd_store {
        // The case that breaks kind: the whole image cannot be exported.
        let saved = docker_cli(&["save", "-o", "/dev/null", PARTIAL]);
        assert!(
            !saved.status.success(),
            "docker save of a partial image works here"
        );
    }
    build_busybox_image(BUILT, &mut cleanup);

    let up = || {
        run(
            "docker-dind",
            &[
                "up",
                "--nodes-only",
                "--nodes",
                "2",
                "--cluster-id",
                CLUSTER,
                "--image",
                BARE_IMAGE,
            ],
            &[],
        )
    };
    let first = up();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let nodes = [
        "kube-master-cluster-171",
        "kube-node-1-cluster-171",
        "kube-node-2-cluster-171",
    ];
    run_ok(
        "docker-dind",
        &["load", "--cluster-id", CLUSTER, BUILT, PARTIAL],
        &[],
    );
    for node in nodes {
        let images = node_images(&engine, node).await;
        for reference in [
            "docker.io/library/dind-partial:1",
            "docker.io/library/dind-store-busybox:1",
        ] {
            assert!(
                images.lines().any(|l| l == reference),
                "{node} lacks {reference}:\n{images}"
            );
        }
    }
    exec(
        &engine,
        nodes[1],
        &["sh", "-c", "echo kept > /etc/i17-kept"],
    )
    .await;

    run_ok("docker-dind", &["snapshot", "--cluster-id", CLUSTER], &[]);
    run_ok("docker-dind", &["down", "--cluster-id", CLUSTER], &[]);
    let restored = up();
    let stderr = String::from_utf8_lossy(&restored.stderr);
    assert!(restored.status.success(), "{stderr}");
    assert!(
        stderr.contains("Restoring cluster-171 from its snapshot"),
        "{stderr}"
    );
    assert_eq!(
        exec(&engine, nodes[1], &["cat", "/etc/i17-kept"]).await,
        "kept\n"
    );

    run_ok("docker-dind", &["clean", "--cluster-id", CLUSTER], &[]);
    assert!(
        labelled_objects("cluster-171").is_empty(),
        "{:?}",
        labelled_objects("cluster-171")
    );
}
