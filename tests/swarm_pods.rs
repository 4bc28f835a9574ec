//! Pod traffic across the two engines of the swarm stage (`--docker-hosts`): a nested
//! container started by containerd with `ctr run --cni` on the master (host's engine)
//! and one on kube-node-1 (the inner engine) reach each other at their pod addresses over
//! the swarm overlay, with payloads past one packet, and the pod interfaces carry the
//! overlay's MTU. Run by `scripts/test-swarm.sh` after the inner engine joined the swarm;
//! alone (without `DIND_SWARM_INNER_HOST`) it fails under CI=true and is skipped
//! otherwise. Cluster ID 243.

mod support;

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use support::swarm::{docker_on, engines, plan_and_up, CleanBoth};
use support::{build_busybox_image, ensure_images, run_ok, RemoveOnDrop, BARE_IMAGE};

const IMAGE: &str = "i23-busybox:1";
const IMAGE_REF: &str = "docker.io/library/i23-busybox:1";
const PORT: &str = "7777";
/// More than one 1,450-byte packet: the overlay's MTU shows only past it.
const PAYLOAD: usize = 3000;

/// A node of the cluster: its name and the engine it runs on.
struct NodeOn {
    name: String,
    engine: String,
}

impl NodeOn {
    /// `docker -H ENGINE exec NODE ARGV...`: its stdout, failing the test otherwise.
    fn exec(&self, argv: &[&str]) -> String {
        let mut args = vec!["exec", self.name.as_str()];
        args.extend(argv);
        let out = docker_on(&self.engine, &args);
        assert!(
            out.status.success(),
            "{} on {}: {argv:?}: {}",
            self.name,
            self.engine,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One name per node: on a cgroup v1 host the nodes share the host's cgroup tree, so
    /// two nodes running a container of one name collide at
    /// /sys/fs/cgroup/<controller>/k8s.io/<name>.
    fn pod(&self) -> String {
        format!("i23-pod-{}", self.name)
    }

    /// `sh -c SCRIPT` in this node's nested container.
    fn in_pod(&self, exec_id: &str, script: &str) -> String {
        let pod = self.pod();
        self.exec(&[
            "ctr",
            "-n",
            "k8s.io",
            "task",
            "exec",
            "--exec-id",
            exec_id,
            &pod,
            "/bin/busybox",
            "sh",
            "-c",
            script,
        ])
    }
}

/// Imports the image archive at `archive` into the node's containerd (k8s.io namespace).
fn import(node: &NodeOn, archive: &std::path::Path) {
    let file = std::fs::File::open(archive).expect("the image archive opens");
    let out = Command::new("docker")
        .args(["-H", &node.engine, "exec", "-i", &node.name])
        .args(["ctr", "-n", "k8s.io", "images", "import", "-"])
        .stdin(Stdio::from(file))
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "import into {}: {}",
        node.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops and removes the nested containers when dropped, so no cgroup of theirs stays in
/// the host's tree (the nodes go with the cluster).
struct RemovePods<'a>(&'a [NodeOn]);

impl Drop for RemovePods<'_> {
    fn drop(&mut self) {
        for node in self.0 {
            let pod = node.pod();
            for argv in [
                vec!["ctr", "-n", "k8s.io", "task", "kill", "-s", "KILL", &pod],
                vec!["ctr", "-n", "k8s.io", "task", "delete", "-f", &pod],
                vec!["ctr", "-n", "k8s.io", "container", "delete", &pod],
            ] {
                let mut args = vec!["exec", node.name.as_str()];
                args.extend(argv);
                let _ = docker_on(&node.engine, &args);
            }
        }
    }
}

/// The pod address of `eth0` in `ip -4 -o addr show eth0` output.
fn pod_address(ip_addr: &str) -> Ipv4Addr {
    ip_addr
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("no pod address in:\n{ip_addr}"))
}

/// Whether `address` is in `subnet` ("a.b.c.d/len").
fn in_subnet(address: Ipv4Addr, subnet: &str) -> bool {
    let (network, len) = subnet.split_once('/').expect("a CIDR subnet");
    let network: Ipv4Addr = network.parse().expect("an IPv4 network");
    let len: u32 = len.parse().expect("a prefix length");
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(address) & mask == u32::from(network) & mask
}

/// The master (host's engine) and kube-node-1 (inner engine) each run a nested container
/// on the node's CNI network (`ctr run --cni`, the config list `up` wrote with the
/// overlay's MTU): each pod's interface has the overlay's MTU (1450), its address is in
/// its node's pod subnet, a 1,500-byte echo request from each pod to the other's pod
/// address comes back at the first try (the pod, not the overlay, fragments it), and
/// 3,000 bytes sent over TCP from each pod to the other arrive whole (a listener counts
/// them and answers the count).
#[test]
fn pods_reach_each_other_across_engines() {
    let Some((host, inner)) = engines() else {
        return;
    };
    ensure_images();
    let mut cleanup = RemoveOnDrop::default();
    build_busybox_image(IMAGE, &mut cleanup);
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("busybox.tar");
    let saved = support::docker_cli(&["save", "-o", archive.to_str().expect("utf-8"), IMAGE]);
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );

    let hosts = format!("{host},{inner}");
    let select = ["--cluster-id", "243", "--docker-hosts", &hosts];
    let _clean = CleanBoth(select.iter().map(|s| s.to_string()).collect());
    let mut up = vec!["up", "--nodes-only", "--nodes", "1", "--image", BARE_IMAGE];
    up.extend(select);
    let plan = plan_and_up(&up);

    let mut list = vec!["nodes", "-o", "json"];
    list.extend(select);
    let rows: serde_json::Value =
        serde_json::from_str(&run_ok("docker-dind", &list, &[])).expect("nodes -o json");
    let nodes: Vec<NodeOn> = rows
        .as_array()
        .expect("a list of nodes")
        .iter()
        .map(|row| NodeOn {
            name: row["name"].as_str().expect("a name").to_string(),
            engine: row["engine"].as_str().expect("an engine").to_string(),
        })
        .collect();
    let engines: Vec<&str> = nodes.iter().map(|n| n.engine.as_str()).collect();
    assert_eq!(
        engines,
        [host.as_str(), inner.as_str()],
        "one node per engine"
    );
    let _pods = RemovePods(&nodes);

    let mut addresses = Vec::new();
    for (node, planned) in nodes.iter().zip(plan["nodes"].as_array().expect("nodes")) {
        assert_eq!(node.name, planned["name"].as_str().expect("a name"));
        import(node, &archive);
        let pod = node.pod();
        let listener = format!("/bin/busybox nc -ll -p {PORT} -e /bin/busybox wc -c");
        node.exec(&[
            "ctr",
            "-n",
            "k8s.io",
            "run",
            "-d",
            "--cni",
            IMAGE_REF,
            &pod,
            "/bin/busybox",
            "sh",
            "-c",
            &listener,
        ]);
        let mtu = node.in_pod("mtu", "cat /sys/class/net/eth0/mtu");
        assert_eq!(mtu.trim(), "1450", "{pod} on {}: eth0's MTU", node.name);
        let address = pod_address(&node.in_pod("addr", "ip -4 -o addr show eth0"));
        let subnet = planned["pod_subnets"][0]
            .as_str()
            .unwrap_or_else(|| panic!("a pod subnet in {planned}"));
        assert!(
            in_subnet(address, subnet),
            "{pod}: {address} not in {subnet}"
        );
        addresses.push(address);
    }

    // First, before TCP could teach either pod a path MTU: one echo request of 1,500
    // bytes (1,472 of data) must come back at the first try. A pod at the overlay's MTU
    // fragments it itself; a pod left at 1,500 sends it whole, and its node, whose
    // overlay interface is at 1,450, drops it (measured: 100% loss on the first, TCP
    // still whole, as the node's "fragmentation needed" teaches the sender).
    for (from, to) in [(0, 1), (1, 0)] {
        let target = addresses[to];
        let ping = nodes[from].in_pod(
            &format!("ping-{from}"),
            // Small echo requests first, until the path answers (ARP on the overlay):
            // they teach no path MTU.
            &format!(
                "for i in $(seq 20); do ping -c 1 -W 1 {target} >/dev/null && break; done; \
                 ping -c 1 -W 5 -s 1472 {target} || true"
            ),
        );
        assert!(
            ping.contains("1 packets received"),
            "{} ({}) to {} at {target}: a 1,500-byte packet was lost:\n{ping}",
            nodes[from].pod(),
            nodes[from].engine,
            nodes[to].pod()
        );
    }
    for (from, to) in [(0, 1), (1, 0)] {
        let target = addresses[to];
        // The listener may not be up yet: a refused connection is retried, a short count
        // is not.
        let script = format!(
            "for i in $(seq 50); do \
               got=$(head -c {PAYLOAD} /dev/zero | tr '\\0' x | timeout 10 nc -w 5 {target} {PORT}) \
                 && [ -n \"$got\" ] && {{ echo \"$got\"; exit 0; }}; \
               sleep 0.2; \
             done; exit 1"
        );
        let got = nodes[from].in_pod(&format!("send-{from}"), &script);
        assert_eq!(
            got.trim(),
            PAYLOAD.to_string(),
            "{} ({}) to {} at {target}",
            nodes[from].pod(),
            nodes[from].engine,
            nodes[to].pod()
        );
    }
}
