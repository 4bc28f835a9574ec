//! IPv6 clusters over the two engines of the swarm stage: an IPv6 cluster whose node on
//! the inner engine resolves an IPv4-only peer's name through DNS64 and reaches it through
//! NAT64 (both on the host's engine), over the IPv4-only overlay and the IPv6 mesh its
//! members add themselves (crate::plan::mesh); dual-stack is refused (exit 2) before
//! anything is created. The ignored canary shows, on the real engines, the overlay
//! behaviour the mesh rests on (see `check_spread_ip_mode` in shared/src/plan.rs).
//!
//! Run by `scripts/test-swarm.sh` (after the inner engine joins the swarm); alone it
//! fails under CI=true without `DIND_SWARM_INNER_HOST` and is skipped otherwise.
//! Cluster IDs 201, 202 and 236.

mod support;

use std::time::{Duration, Instant};
use support::swarm::{docker_on, engines, labelled_on, CleanBoth};
use support::{auth_dns_files, ensure_images, run, run_ok, BARE_IMAGE};

const V4_NETWORK: &str = "dind-test-201-v4only";
const V4_SUBNET: &str = "10.250.201.0/24";
const AUTH_DNS: &str = "10.250.201.53";
const PEER: &str = "10.250.201.10";
const ZONE: &str = "dind.test";

/// Retries `check` until it returns `Ok` or a minute passes: DNS and the gateway need a
/// moment after their containers start, and nothing announces that they serve.
fn eventually<T>(mut check: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(e) if start.elapsed() > Duration::from_secs(60) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// The test's "IPv4 internet" on the host's engine: an IPv4-only bridge network with an
/// authoritative server for the test zone and a peer that echoes who connected.
fn start_ipv4_world(host: &str, undo: &mut Undo) {
    undo.0.push((
        host.into(),
        vec!["network".into(), "rm".into(), V4_NETWORK.into()],
    ));
    docker_ok(
        host,
        &["network", "create", "--subnet", V4_SUBNET, V4_NETWORK],
    );
    let (peer, auth) = ("dind-test-201-peer", "dind-test-201-authdns");
    for name in [auth, peer] {
        undo.0
            .push((host.into(), vec!["rm".into(), "-f".into(), name.into()]));
    }
    docker_ok(
        host,
        &[
            "run",
            "-d",
            "--name",
            peer,
            "--network",
            V4_NETWORK,
            "--ip",
            PEER,
            "--entrypoint",
            "socat",
            BARE_IMAGE,
            "TCP-LISTEN:8080,fork,reuseaddr",
            "SYSTEM:echo peer-saw-$SOCAT_PEERADDR",
        ],
    );
    let (conf, zone) = auth_dns_files(ZONE, AUTH_DNS, &format!("v4only IN A {PEER}\n"));
    let (conf, zone) = (format!("CONF={conf}"), format!("ZONE_DB={zone}"));
    let support_image = dind::image::Recipe::support().tag;
    docker_ok(
        host,
        &[
            "run",
            "-d",
            "--name",
            auth,
            "--network",
            V4_NETWORK,
            "--ip",
            AUTH_DNS,
            "-e",
            &conf,
            "-e",
            &zone,
            "--entrypoint",
            "sh",
            &support_image,
            "-c",
            "printf '%s' \"$CONF\" > /etc/bind/dind-test.conf && \
             printf '%s' \"$ZONE_DB\" > /etc/bind/db.dind-test && \
             exec named -g -u bind -c /etc/bind/dind-test.conf",
        ],
    );
}

/// The IPv6 addresses `node` resolves `name` to.
fn resolve(engine: &str, node: &str, name: &str) -> Result<Vec<String>, String> {
    let out = docker_on(engine, &["exec", node, "getent", "ahostsv6", name]);
    if !out.status.success() {
        return Err(format!(
            "getent ahostsv6 {name} in {node}: {:?}",
            out.status
        ));
    }
    let mut addresses: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    addresses.dedup();
    Ok(addresses)
}

/// What the peer saw of a TCP connection from `node` to its name over IPv6.
fn reach_peer(engine: &str, node: &str) -> Result<String, String> {
    let target = format!("TCP6:v4only.{ZONE}:8080");
    let out = docker_on(engine, &["exec", node, "socat", "-T3", "-", &target]);
    let seen = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && seen.starts_with("peer-saw-") {
        Ok(seen)
    } else {
        Err(format!(
            "socat from {node}: {seen}{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// An IPv6 cluster over both engines: its node on the inner engine, and its master on the
/// host's, resolve an IPv4-only peer's name to an address inside the DNS64 prefix and
/// reach the peer over TCP through NAT64, whose IPv4 side the peer sees, again after the
/// node and the gateway restart; `clean` leaves nothing on either engine.
#[test]
fn an_ipv6_cluster_over_two_engines_reaches_an_ipv4_peer_through_dns64_and_nat64() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    let mut undo = Undo(Vec::new());
    start_ipv4_world(&host, &mut undo);
    let _clean = CleanBoth(vec![
        "--cluster-id".into(),
        "201".into(),
        "--docker-hosts".into(),
        hosts.clone(),
    ]);
    let up = [
        "up",
        "--nodes-only",
        "--nodes",
        "1",
        "--ip-mode",
        "ipv6",
        "--cluster-id",
        "201",
        "--image",
        BARE_IMAGE,
        "--docker-hosts",
        &hosts,
    ];
    run_ok("docker-dind", &up, &[("REMOTE_DNS64_V4SERVER", AUTH_DNS)]);
    let (master, node) = ("kube-master-cluster-201", "kube-node-1-cluster-201");
    let on_inner = docker_ok(
        &inner,
        &[
            "ps",
            "--filter",
            "label=dind.cluster=cluster-201",
            "--format",
            "{{.Names}}",
        ],
    );
    assert_eq!(on_inner, node, "the worker runs on the inner engine");
    let addresses = docker_ok(
        &inner,
        &[
            "exec", node, "ip", "-6", "-o", "addr", "show", "dev", "eth0",
        ],
    );
    assert!(
        addresses.contains("fd00:20:201::3/64"),
        "the plan IPv6 on eth0:\n{addresses}"
    );
    docker_ok(
        &host,
        &["network", "connect", V4_NETWORK, "tayga-cluster-201"],
    );
    let format = format!("{{{{(index .NetworkSettings.Networks \"{V4_NETWORK}\").IPAddress}}}}");
    let gateway = docker_ok(&host, &["inspect", "-f", &format, "tayga-cluster-201"]);

    let synthesized = dind::plan::embed_v4(
        "fd00:10:64:ff9b::/96".parse().expect("prefix"),
        PEER.parse().expect("address"),
    )
    .to_string();
    for (engine, member) in [(&inner, node), (&host, master)] {
        let resolved = eventually(|| resolve(engine, member, &format!("v4only.{ZONE}")))
            .expect("the IPv4-only name resolves");
        assert_eq!(
            resolved,
            vec![synthesized.clone()],
            "{member}: prefix + IPv4"
        );
        let seen = eventually(|| reach_peer(engine, member)).expect("the peer answers");
        assert_eq!(
            seen,
            format!("peer-saw-{gateway}"),
            "{member} through NAT64"
        );
    }

    // A restart applies the mesh again: the node's from its boot unit, the gateway's from
    // its entrypoint.
    docker_ok(&inner, &["restart", node]);
    docker_ok(&host, &["restart", "tayga-cluster-201"]);
    let seen = eventually(|| reach_peer(&inner, node)).expect("the peer answers after restarts");
    assert_eq!(seen, format!("peer-saw-{gateway}"));

    let clean = run(
        "docker-dind",
        &["clean", "--cluster-id", "201", "--docker-hosts", &hosts],
        &[],
    );
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    // The swarm removes the overlay a moment after `clean` returned (measured: right after
    // it, both engines still listed the network now and then; it went within seconds).
    for engine in [&host, &inner] {
        let left = eventually(|| match labelled_on(engine, "cluster-201") {
            left if left.is_empty() => Ok(()),
            left => Err(format!("{left:?}")),
        });
        assert_eq!(left, Ok(()), "on {engine}");
    }
}

/// `up` of a dual-stack cluster over both engines exits 2 with the reason, for a real run
/// and a dry run alike, and leaves nothing on either engine.
#[test]
fn dual_stack_over_two_engines_is_refused() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    for dry_run in [false, true] {
        let mut up = vec![
            "up",
            "--nodes-only",
            "--nodes",
            "1",
            "--ip-mode",
            "dual-stack",
            "--cluster-id",
            "202",
            "--image",
            BARE_IMAGE,
            "--docker-hosts",
            &hosts,
        ];
        if dry_run {
            up.push("--dry-run");
        }
        let out = run("docker-dind", &up, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "dry-run {dry_run}: {stderr}");
        let reason = "--ip-mode dual-stack (IP_MODE, config key ip-mode) cannot go";
        assert!(stderr.contains(reason), "{stderr}");
        assert!(
            stderr.contains("with several --docker-hosts (DIND_DOCKER_HOSTS"),
            "{stderr}"
        );
        assert!(stderr.contains("moby#48116"), "{stderr}");
    }
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-202"), Vec::<String>::new());
    }
}

/// The overlay of one run: a name of its own, since a swarm manager that has just removed
/// a network of the same name may still hold its node attachments (measured: the next
/// container's attachment failed with "context deadline exceeded").
fn overlay() -> String {
    format!("dind-test-236-overlay-{}", std::process::id())
}

/// Runs `docker -H HOST ARGS` for each entry when dropped, last first.
struct Undo(Vec<(String, Vec<String>)>);

impl Drop for Undo {
    fn drop(&mut self) {
        for (host, args) in self.0.iter().rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = docker_on(host, &args);
        }
    }
}

fn docker_ok(host: &str, args: &[&str]) -> String {
    let out = docker_on(host, args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A container on the overlay with the given fixed addresses, listening on TCP 7000.
fn start(host: &str, undo: &mut Undo, name: &str, fixed: &[&str]) {
    undo.0.push((
        host.to_string(),
        vec!["rm".into(), "-f".into(), name.into()],
    ));
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "dind.cluster=cluster-236",
        "--cap-add",
        "NET_ADMIN",
        "--network",
    ];
    let network = overlay();
    args.push(&network);
    args.extend(fixed);
    args.extend([
        "--entrypoint",
        "socat",
        BARE_IMAGE,
        "TCP-LISTEN:7000,fork,reuseaddr,pf=ip6,ipv6only=0",
        "SYSTEM:echo answered",
    ]);
    docker_ok(host, &args);
}

/// (IPv4, IPv6, MAC) of a container on the overlay.
fn endpoint(host: &str, name: &str) -> (String, String, String) {
    let format = format!(
        "{{{{with index .NetworkSettings.Networks \"{}\"}}}}{{{{.IPAddress}}}} \
         {{{{.GlobalIPv6Address}}}} {{{{.MacAddress}}}}{{{{end}}}}",
        overlay()
    );
    let out = docker_ok(host, &["inspect", "-f", &format, name]);
    let mut parts = out.split_whitespace().map(str::to_string);
    let mut next = || parts.next().unwrap_or_default();
    (next(), next(), next())
}

/// Whether `from` gets an answer from `target` (socat's address syntax).
fn answers(host: &str, from: &str, target: &str) -> bool {
    let out = docker_on(host, &["exec", from, "socat", "-T3", "-", target]);
    String::from_utf8_lossy(&out.stdout).trim() == "answered"
}

/// The MACs of every endpoint a host lists on the overlay (the swarm's own included).
fn macs_on(host: &str) -> Vec<String> {
    let format = "{{range .Containers}}{{.MacAddress}} {{end}}";
    docker_ok(host, &["network", "inspect", "-f", format, &overlay()])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// What the refusal rests on, on the real engines: on an attachable overlay with both
/// families (created on the manager, with the swarm's ranges as `up` makes them):
/// - a container keeps one fixed address: asked for both, its IPv6 one is dynamic;
/// - with a fixed IPv6 address only, a container's IPv4 address (and the MAC Docker makes
///   from it) comes from its own engine, and a container on each engine collides with
///   the swarm's endpoint on the other: the same MAC on both engines;
/// - IPv6 neighbour discovery does not cross engines, even between containers with
///   unique MACs (fixed IPv4 addresses), where IPv4 does; pinning the MACs makes it cross;
/// - pinning does not help between the containers whose MACs collide.
/// A canary for the mesh and the dual-stack refusal, run by hand on a quiet swarm (`scripts/swarm-dev.sh up`, then
/// `cargo test --workspace --test swarm_ipv6 -- --ignored`): attaching to an overlay that
/// carries IPv6 hit swarm's `context deadline exceeded` under the load of CI's parallel
/// stages, which would fail the stage for a reason that is not dind's.
#[test]
#[ignore = "measures the engines' IPv6 overlay behaviour; flaky under load: run by hand"]
fn the_overlay_behaviour_behind_the_refusal_holds() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let mut undo = Undo(vec![(
        host.clone(),
        vec!["network".into(), "rm".into(), overlay()],
    )]);
    docker_ok(
        &host,
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--attachable",
            "--ipv6",
            "--label",
            "dind.cluster=cluster-236",
            "--subnet",
            "10.192.236.0/24",
            "--ip-range",
            "10.192.236.224/28",
            "--subnet",
            "fd00:20:236::/64",
            "--ip-range",
            "fd00:20:236::e0/124",
            &overlay(),
        ],
    );
    let both = "dind-test-236-both";
    start(
        &host,
        &mut undo,
        both,
        &["--ip", "10.192.236.10", "--ip6", "fd00:20:236::10"],
    );
    let (both_v4, both_v6, both_mac) = endpoint(&host, both);
    assert_eq!(both_v4, "10.192.236.10");
    assert_ne!(both_v6, "fd00:20:236::10", "one fixed address only");

    let (a, b) = ("dind-test-236-a", "dind-test-236-b");
    start(&host, &mut undo, a, &["--ip6", "fd00:20:236::2"]);
    start(&inner, &mut undo, b, &["--ip6", "fd00:20:236::3"]);
    let (_, a_v6, a_mac) = endpoint(&host, a);
    let (_, b_v6, b_mac) = endpoint(&inner, b);
    assert_eq!(
        (a_v6.as_str(), b_v6.as_str()),
        ("fd00:20:236::2", "fd00:20:236::3")
    );
    let (on_host, on_inner) = (macs_on(&host), macs_on(&inner));
    assert!(
        on_inner.contains(&a_mac) || on_host.contains(&b_mac),
        "neither {a}'s MAC {a_mac} nor {b}'s {b_mac} is on the other engine too (host \
         {on_host:?}, inner {on_inner:?}): the engines no longer collide, revisit \
         check_spread_ip_mode"
    );

    // A pair with unique MACs (fixed IPv4 addresses), given IPv6 addresses of their own
    // since Docker's would be dynamic: IPv4 crosses, IPv6 only once the MACs are pinned.
    let c = "dind-test-236-c";
    start(&inner, &mut undo, c, &["--ip", "10.192.236.11"]);
    let (_, _, c_mac) = endpoint(&inner, c);
    let (both_own, c_own) = ("fd00:20:236::20", "fd00:20:236::21");
    let ip = |engine: &str, container: &str, args: &[&str]| {
        let mut argv = vec!["exec", container, "ip", "-6"];
        argv.extend(args);
        docker_ok(engine, &argv)
    };
    ip(
        &host,
        both,
        &[
            "addr",
            "add",
            &format!("{both_own}/64"),
            "dev",
            "eth0",
            "nodad",
        ],
    );
    ip(
        &inner,
        c,
        &[
            "addr",
            "add",
            &format!("{c_own}/64"),
            "dev",
            "eth0",
            "nodad",
        ],
    );
    let to = |address: &str| format!("{address}:7000,connect-timeout=3");
    assert!(
        answers(&inner, c, &to(&format!("TCP4:{both_v4}"))),
        "IPv4 crosses"
    );
    assert!(
        !answers(&inner, c, &to(&format!("TCP6:[{both_own}]"))),
        "IPv6 crossed the engines unaided: revisit check_spread_ip_mode"
    );
    let neigh = ip(&inner, c, &["neigh", "show", both_own]);
    assert!(
        neigh.contains("FAILED") || neigh.contains("INCOMPLETE"),
        "{neigh}"
    );
    let pin = |engine: &str, container: &str, address: &str, mac: &str| {
        let args = [
            "neigh",
            "replace",
            address,
            "lladdr",
            mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ];
        ip(engine, container, &args);
    };
    pin(&inner, c, both_own, &both_mac);
    pin(&host, both, c_own, &c_mac);
    assert!(
        answers(&inner, c, &to(&format!("TCP6:[{both_own}]"))),
        "IPv6 crosses between pinned, unique MACs"
    );
    // The pair whose MACs collide with the swarm's endpoints: not even pinned.
    pin(&inner, b, &a_v6, &a_mac);
    pin(&host, a, &b_v6, &b_mac);
    assert!(
        !answers(&inner, b, &to(&format!("TCP6:[{a_v6}]"))),
        "IPv6 crossed between MACs taken on both engines"
    );

    drop(undo);
    // The manager may still count the inner engine's endpoint for a moment.
    let start = std::time::Instant::now();
    while docker_on(&host, &["network", "inspect", &overlay()])
        .status
        .success()
        && start.elapsed() < std::time::Duration::from_secs(15)
    {
        let _ = docker_on(&host, &["network", "rm", &overlay()]);
    }
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-236"), Vec::<String>::new());
    }
}
