//! IPv6 and dual-stack clusters over the two engines of the swarm stage: refused, and
//! why. `up --ip-mode ipv6|dual-stack` with several `--docker-hosts` exits 2 before
//! anything is created; the second test (ignored: run it by hand) shows, on the real engines, the overlay
//! behaviour the refusal rests on (see `check_spread_ip_mode` in shared/src/plan.rs),
//! so that an engine which lifts it fails this test and the refusal can go.
//!
//! Run by `scripts/test-swarm.sh` (after the inner engine joins the swarm); alone it
//! fails under CI=true without `DIND_SWARM_INNER_HOST` and is skipped otherwise.
//! Cluster IDs 200 and 236.

mod support;

use support::swarm::{docker_on, engines, labelled_on};
use support::{ensure_images, run, BARE_IMAGE};

/// `up` of an IPv6 or dual-stack cluster over both engines exits 2 with the reason, for
/// a real run and a dry run alike, and leaves nothing on either engine.
#[test]
fn ipv6_and_dual_stack_over_two_engines_are_refused() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let hosts = format!("{host},{inner}");
    for mode in ["ipv6", "dual-stack"] {
        for dry_run in [false, true] {
            let mut up = vec![
                "up",
                "--nodes-only",
                "--nodes",
                "1",
                "--ip-mode",
                mode,
                "--cluster-id",
                "200",
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
            assert_eq!(
                out.status.code(),
                Some(2),
                "{mode} dry-run {dry_run}: {stderr}"
            );
            let reason = format!("--ip-mode {mode} (IP_MODE, config key ip-mode) cannot go");
            assert!(stderr.contains(&reason), "{stderr}");
            assert!(
                stderr.contains("with several --docker-hosts (DIND_DOCKER_HOSTS"),
                "{stderr}"
            );
            assert!(stderr.contains("moby#48116"), "{stderr}");
        }
    }
    for engine in [&host, &inner] {
        assert_eq!(labelled_on(engine, "cluster-200"), Vec::<String>::new());
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
/// A canary for the refusal, run by hand on a quiet swarm (`scripts/swarm-dev.sh up`, then
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
