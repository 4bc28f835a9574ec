//! `down`, `snapshot`, `restore` (and `up` finding a snapshot), `pause` and `unpause` on a
//! cluster spread over two engines of one swarm (`--docker-hosts`): this machine's daemon
//! and a Docker 28 engine in a container. Run by `scripts/test-swarm.sh` once the inner
//! engine has joined the swarm; alone (without `DIND_SWARM_INNER_HOST`) every test here
//! fails under CI=true and is skipped otherwise. Cluster IDs 244 and 234 (233 is tests/registry.rs's).

mod support;

use support::swarm::{docker_on, engines, labelled_on, CleanBoth};
use support::{ensure_images, run, run_ok, BARE_IMAGE};

/// One node as `nodes -o json` shows it: name, engine, state, IPv4 address, image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: String,
    engine: String,
    state: String,
    ipv4: String,
    image: String,
}

fn nodes(select: &[&str]) -> Vec<Row> {
    let mut args = vec!["nodes", "-o", "json"];
    args.extend(select);
    let rows: serde_json::Value =
        serde_json::from_str(&run_ok("docker-dind", &args, &[])).expect("nodes -o json");
    let field = |row: &serde_json::Value, key: &str| {
        row[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {row}"))
            .to_string()
    };
    rows.as_array()
        .expect("a list of nodes")
        .iter()
        .map(|row| Row {
            name: field(row, "name"),
            engine: field(row, "engine"),
            state: field(row, "state"),
            ipv4: field(row, "ipv4"),
            image: field(row, "image"),
        })
        .collect()
}

/// `docker -H engine exec node sh -c script`, which must succeed; its stdout.
fn exec_on(row: &Row, script: &str) -> String {
    let out = docker_on(&row.engine, &["exec", &row.name, "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{} on {}: {script}: {}",
        row.name,
        row.engine,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The state Docker reports for `name` on `engine` (`running`, `paused`), or what the
/// CLI says when it has no such container.
fn state_on(engine: &str, name: &str) -> String {
    let out = docker_on(engine, &["inspect", "--format", "{{.State.Status}}", name]);
    let text = if out.status.success() {
        out.stdout
    } else {
        out.stderr
    };
    String::from_utf8_lossy(&text).trim().to_string()
}

/// The snapshot images (repository `dind-snapshot`) of `cluster_key` on `engine`.
fn snapshot_images_on(engine: &str, cluster_key: &str) -> Vec<String> {
    let filter = format!("label=dind.cluster={cluster_key}");
    let out = docker_on(
        engine,
        &[
            "images",
            "--filter",
            &filter,
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut images: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("dind-snapshot:"))
        .map(str::to_string)
        .collect();
    images.sort();
    images
}

/// After `down`: no node container on either engine, each node's snapshot image and its
/// kept volume on the engine that held it, and nothing of them on the other.
fn assert_down(before: &[Row], cluster_key: &str, engines: [&str; 2]) {
    for engine in engines {
        let held: Vec<&Row> = before.iter().filter(|r| r.engine == engine).collect();
        let mut wanted: Vec<String> = held
            .iter()
            .map(|r| format!("dind-snapshot:{}", r.name))
            .collect();
        wanted.sort();
        assert_eq!(
            snapshot_images_on(engine, cluster_key),
            wanted,
            "each node's snapshot on its own engine, {engine}"
        );
        let left = labelled_on(engine, cluster_key);
        for row in before {
            assert!(
                !left.contains(&format!("container {}", row.name)),
                "{} removed from {engine}: {left:?}",
                row.name
            );
        }
        let volumes = left.iter().filter(|o| o.starts_with("volume ")).count();
        assert!(
            volumes >= held.len(),
            "the {} node volume(s) of {engine} kept: {left:?}",
            held.len()
        );
    }
}

/// After `up` or `restore` from the snapshot: the same nodes, each on the same engine at
/// the same address, running from its snapshot image, with what it had written both in
/// its container filesystem (the snapshot) and in `/var` (its kept volume).
fn assert_restored(before: &[Row], after: &[Row]) {
    assert_eq!(after.len(), before.len(), "{after:?}");
    for (was, now) in before.iter().zip(after) {
        assert_eq!(
            (&now.name, &now.engine, &now.ipv4, now.state.as_str()),
            (&was.name, &was.engine, &was.ipv4, "running"),
            "{} comes back on the same engine at the same address",
            was.name
        );
        assert_eq!(now.image, format!("dind-snapshot:{}", was.name));
        assert_eq!(state_on(&now.engine, &now.name), "running");
        assert_eq!(
            exec_on(
                now,
                "cat /etc/dind-restore-marker /var/lib/dind-restore-marker"
            ),
            format!("{0}\n{0}", was.name),
            "{}'s filesystem and volume came back",
            was.name
        );
    }
}

/// Four nodes over two engines are paused and unpaused, each on its engine; `down` keeps
/// each node's snapshot and volume on the engine that held it; `up` then brings all four
/// back on the same engines at the same addresses from their snapshots, and so does
/// `restore` after a second `down`; an `up` with the engines in another order is refused
/// before anything is created; `clean` leaves nothing on either engine.
#[test]
fn down_and_restore_across_two_engines() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let key = "cluster-244";
    let hosts = format!("{host},{inner}");
    let select = ["--cluster-id", "244", "--docker-hosts", &hosts];
    let _clean = CleanBoth(select.iter().map(|s| s.to_string()).collect());
    let with = |command: &[&'static str]| -> Vec<String> {
        command
            .iter()
            .copied()
            .chain(select)
            .map(str::to_string)
            .collect()
    };
    let dind = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ok("docker-dind", &args, &[])
    };
    let up = with(&["up", "--nodes-only", "--nodes", "3", "--image", BARE_IMAGE]);
    dind(up.clone());
    let before = nodes(&select);
    assert_eq!(before.len(), 4, "{before:?}");
    let on_inner = before.iter().filter(|r| r.engine == inner).count();
    assert_eq!(on_inner, 2, "two nodes on the inner engine: {before:?}");
    for row in &before {
        exec_on(
            row,
            &format!(
                "echo {0} > /etc/dind-restore-marker && echo {0} > /var/lib/dind-restore-marker",
                row.name
            ),
        );
    }

    dind(with(&["pause"]));
    for row in &before {
        assert_eq!(state_on(&row.engine, &row.name), "paused", "{}", row.name);
    }
    assert!(nodes(&select).iter().all(|r| r.state == "paused"));
    dind(with(&["unpause"]));
    for row in &before {
        assert_eq!(state_on(&row.engine, &row.name), "running", "{}", row.name);
    }

    // `snapshot` alone commits each node on its engine, and the nodes run on.
    let taken = dind(with(&["snapshot"]));
    assert_eq!(taken.lines().count(), 4, "{taken}");
    dind(with(&["down"]));
    assert_down(&before, key, [&host, &inner]);

    // The engines in another order would put each node on the other engine: refused,
    // exit 2, with the snapshot and the volumes kept.
    let reordered = format!("{inner},{host}");
    let out = run(
        "docker-dind",
        &[
            "up",
            "--nodes-only",
            "--nodes",
            "3",
            "--image",
            BARE_IMAGE,
            "--cluster-id",
            "244",
            "--docker-hosts",
            &reordered,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("and this run places the node on"),
        "{stderr}"
    );
    assert_down(&before, key, [&host, &inner]);

    dind(up);
    assert_restored(&before, &nodes(&select));

    dind(with(&["down"]));
    assert_down(&before, key, [&host, &inner]);
    dind(with(&["restore"]));
    assert_restored(&before, &nodes(&select));

    dind(with(&["clean"]));
    for engine in [&host, &inner] {
        assert_eq!(
            labelled_on(engine, key),
            Vec::<String>::new(),
            "on {engine}"
        );
        assert_eq!(
            snapshot_images_on(engine, key),
            Vec::<String>::new(),
            "on {engine}"
        );
    }
}

/// `up --skip-snapshot` after a `down` of a cluster over two engines discards the snapshot
/// on both engines and starts every node afresh, its kept volume replaced by a new one,
/// on the same engines and addresses; `clean` leaves nothing on either engine.
#[test]
fn skip_snapshot_discards_on_both_engines() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let key = "cluster-234";
    let hosts = format!("{host},{inner}");
    let select = ["--cluster-id", "234", "--docker-hosts", &hosts];
    let _clean = CleanBoth(select.iter().map(|s| s.to_string()).collect());
    let mut up = vec!["up", "--nodes-only", "--nodes", "3", "--image", BARE_IMAGE];
    up.extend(select);
    run_ok("docker-dind", &up, &[]);
    let before = nodes(&select);
    assert_eq!(before.len(), 4, "{before:?}");
    for row in &before {
        exec_on(row, "echo kept > /var/lib/dind-restore-marker");
    }
    let mut down = vec!["down"];
    down.extend(select);
    run_ok("docker-dind", &down, &[]);
    assert_down(&before, key, [&host, &inner]);

    up.push("--skip-snapshot");
    run_ok("docker-dind", &up, &[]);
    let after = nodes(&select);
    assert_eq!(after.len(), 4, "{after:?}");
    for (was, now) in before.iter().zip(&after) {
        assert_eq!(
            (&now.name, &now.engine, &now.ipv4, now.image.as_str()),
            (&was.name, &was.engine, &was.ipv4, BARE_IMAGE),
            "{} starts afresh from the node image on its engine",
            was.name
        );
        assert_eq!(
            exec_on(
                now,
                "test -e /var/lib/dind-restore-marker && echo old || echo fresh"
            ),
            "fresh",
            "{}'s volume is a new one",
            now.name
        );
    }
    for engine in [&host, &inner] {
        assert_eq!(
            snapshot_images_on(engine, key),
            Vec::<String>::new(),
            "the snapshot is discarded on {engine}"
        );
    }

    let mut clean = vec!["clean"];
    clean.extend(select);
    run_ok("docker-dind", &clean, &[]);
    for engine in [&host, &inner] {
        assert_eq!(
            labelled_on(engine, key),
            Vec::<String>::new(),
            "on {engine}"
        );
    }
}
