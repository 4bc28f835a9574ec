//! The load balancer of a cluster with several masters: HAProxy from Debian's package
//! (the `dind-lb` image) forwarding TCP on 6443 to every master's API server, published
//! on the Docker host in place of the master, so the kubeconfig and kubeadm's
//! `controlPlaneEndpoint` survive any one master.
//!
//! The configuration is kind's (pkg/cluster/internal/loadbalancer/config.go: TCP mode,
//! `option httpchk GET /healthz` over TLS without verification, as the API server's
//! certificate is not for the balancer to check) with two changes: servers are the
//! plan's fixed addresses rather than names resolved through Docker's DNS, and the
//! checks are tighter than kind's (1 s apart, down after 2 failures, connects given up
//! after 1 s and redispatched to another master, and the first failed connection of real
//! traffic marks a master down: HAProxy's `observe layer4`), so a stopped master drops
//! out within seconds and requests meanwhile still succeed. Reloads are kind's too
//! (create/actions/loadbalancer/loadbalancer.go): rewrite the file, send HUP; in
//! master-worker mode the new worker takes the listening socket over and the old one
//! finishes its connections.

use super::ledger::Ledger;
use super::net64::support_labels;
use super::node_spec::api_publication;
use crate::engine::{ContainerSpec, Engine};
use crate::image::{ensure_image, Recipe};
use crate::kubeadm::API_SERVER_PORT;
use crate::node::{Node, NodeFile};
use crate::plan::{ClusterPlan, LoadBalancerPlan, NodePlan};
use crate::progress::Progress;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// HAProxy's configuration inside the balancer (the image's entrypoint reads it).
pub const CONFIG_PATH: &str = "/etc/haproxy/dind.cfg";

/// The value of [`crate::names::labels::SUPPORT`] on the balancer.
pub const SUPPORT_ROLE: &str = "load-balancer";

/// The address the balancer reaches a master at: the family of the first service range,
/// as kubeadm's node-ip order.
pub fn backend_address(plan: &ClusterPlan, master: &NodePlan) -> Option<IpAddr> {
    let v6_first = matches!(plan.service_cidrs.first(), Some(IpNet::V6(_)));
    let mut addresses = master.addresses();
    if v6_first {
        addresses.reverse();
    }
    addresses.into_iter().next()
}

/// HAProxy's configuration for the plan's masters.
pub fn haproxy_config(plan: &ClusterPlan, lb: &LoadBalancerPlan) -> String {
    let binds: String = [
        lb.ipv4
            .map(|_| format!("  bind 0.0.0.0:{API_SERVER_PORT}\n")),
        lb.ipv6
            .map(|_| format!("  bind :::{API_SERVER_PORT} v6only\n")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let servers: String = plan
        .masters()
        .iter()
        .filter_map(|m| {
            let address = SocketAddr::new(backend_address(plan, m)?, API_SERVER_PORT);
            Some(format!(
                "  server {} {address} check check-ssl verify none\n",
                m.name
            ))
        })
        .collect();
    format!(
        "# Rendered by dind for {name}: the API servers of cluster {cluster}.\n\
         global\n  \
           maxconn 4096\n\
         defaults\n  \
           mode tcp\n  \
           option dontlognull\n  \
           timeout connect 1s\n  \
           # API watches stay quiet for minutes; kind's 50 s would cut them.\n  \
           timeout client 30m\n  \
           timeout server 30m\n  \
           retries 2\n  \
           option redispatch 1\n  \
           # A connection a master refuses or lets time out marks it down at once,\n  \
           # without waiting for two failed checks; checks bring it back.\n  \
           default-server inter 1s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down\n\
         frontend control-plane\n\
         {binds}  \
           default_backend kube-apiservers\n\
         backend kube-apiservers\n  \
           option httpchk GET /healthz\n\
         {servers}",
        name = lb.name,
        cluster = plan.cluster_key,
    )
}

/// The balancer's container: no privileges, the cluster network at the plan's
/// addresses, the API server's host port.
pub fn container(plan: &ClusterPlan, lb: &LoadBalancerPlan, image: &str) -> ContainerSpec {
    let mut sysctls = BTreeMap::new();
    if lb.ipv6.is_some() {
        sysctls.insert("net.ipv6.conf.all.disable_ipv6".into(), "0".into());
    }
    ContainerSpec {
        name: lb.name.clone(),
        image: image.to_string(),
        hostname: Some(lb.name.clone()),
        labels: support_labels(plan, SUPPORT_ROLE),
        sysctls,
        network: Some(plan.network.name.clone()),
        ipv4: lb.ipv4,
        ipv6: lb.ipv6,
        ports: vec![api_publication(plan)],
        restart: Some("unless-stopped".into()),
        ..ContainerSpec::default()
    }
}

/// Makes sure the balancer of a plan with several masters runs with the plan's masters:
/// creates it with its configuration, starts a stopped one, and reloads one that runs
/// (a restore may bring back masters its file does not list).
pub async fn ensure(
    engine: &Engine,
    plan: &ClusterPlan,
    ledger: &Ledger,
    progress: &Progress,
) -> anyhow::Result<()> {
    let Some(lb) = &plan.load_balancer else {
        return Ok(());
    };
    let recipe = Recipe::load_balancer();
    ensure_image(engine, &recipe, progress).await?;
    let step = progress.step(format!("Starting the load balancer {}", lb.name));
    let config = [NodeFile::new(CONFIG_PATH, haproxy_config(plan, lb))];
    let result = async {
        match engine.container_running(&lb.name).await? {
            Some(true) => return reload(engine, plan).await,
            Some(false) => {}
            None => {
                let spec = container(plan, lb, &recipe.tag);
                ledger.create_container(engine, &spec).await?;
            }
        }
        Node::new(engine, &lb.name).write_files(&config).await?;
        engine.start_container(&lb.name).await
    }
    .await;
    step.finish(result).map(drop)
}

/// Rewrites the balancer's configuration for the plan's masters and reloads it without
/// dropping connections.
pub async fn reload(engine: &Engine, plan: &ClusterPlan) -> anyhow::Result<()> {
    let Some(lb) = &plan.load_balancer else {
        return Ok(());
    };
    Node::new(engine, &lb.name)
        .write_files(&[NodeFile::new(CONFIG_PATH, haproxy_config(plan, lb))])
        .await?;
    engine.signal_container(&lb.name, "SIGHUP").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::labels;
    use crate::settings::Settings;

    fn plan(pairs: &[(&str, &str)]) -> ClusterPlan {
        ClusterPlan::new(&Settings::from_env_pairs(pairs).unwrap()).unwrap()
    }

    #[test]
    fn every_master_is_a_checked_backend_in_the_service_family() {
        // (settings, bind lines, server lines)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
        let table: [Case; 3] = [
            (
                &[("DIND_MASTERS", "3"), ("CLUSTER_ID", "7")],
                &["  bind 0.0.0.0:6443"],
                &[
                    "  server kube-master-cluster-7 10.192.7.2:6443 check check-ssl verify none",
                    "  server kube-master-2-cluster-7 10.192.7.253:6443 check check-ssl verify none",
                    "  server kube-master-3-cluster-7 10.192.7.252:6443 check check-ssl verify none",
                ],
            ),
            (
                &[("DIND_MASTERS", "3"), ("IP_MODE", "ipv6")],
                &["  bind :::6443 v6only"],
                &[
                    "  server kube-master [fd00:20::2]:6443 check check-ssl verify none",
                    "  server kube-master-2 [fd00:20::fd]:6443 check check-ssl verify none",
                    "  server kube-master-3 [fd00:20::fc]:6443 check check-ssl verify none",
                ],
            ),
            (
                &[("DIND_MASTERS", "5"), ("IP_MODE", "dual-stack")],
                &["  bind 0.0.0.0:6443", "  bind :::6443 v6only"],
                &[
                    "  server kube-master 10.192.0.2:6443 check check-ssl verify none",
                    "  server kube-master-5 10.192.0.250:6443 check check-ssl verify none",
                ],
            ),
        ];
        for (pairs, binds, servers) in table {
            let p = plan(pairs);
            let lb = p.load_balancer.clone().expect("several masters have one");
            let config = haproxy_config(&p, &lb);
            for line in binds.iter().chain(servers) {
                assert!(
                    config.lines().any(|l| l == *line),
                    "{pairs:?}: {line:?} in\n{config}"
                );
            }
            assert_eq!(
                config
                    .lines()
                    .filter(|l| l.starts_with("  server "))
                    .count(),
                p.masters().len(),
                "{pairs:?}"
            );
            for needle in [
                "mode tcp",
                "option httpchk GET /healthz",
                "option redispatch",
            ] {
                assert!(config.contains(needle), "{needle}");
            }
        }
    }

    #[test]
    fn the_balancer_publishes_the_api_server_and_is_support() {
        let p = plan(&[("DIND_MASTERS", "3"), ("APISERVER_PORT", "16443")]);
        let lb = p.load_balancer.clone().unwrap();
        let spec = container(&p, &lb, "dind-lb:x");
        assert_eq!(spec.name, "kube-master-lb");
        assert_eq!(spec.ipv4, Some("10.192.0.254".parse().unwrap()));
        assert!(!spec.privileged && spec.cap_add.is_empty());
        assert_eq!(spec.labels[labels::SUPPORT], SUPPORT_ROLE);
        assert_eq!(spec.ports.len(), 1);
        assert_eq!(spec.ports[0].container_port, 6443);
        assert_eq!(spec.ports[0].host_port, 16443);
        assert!(plan(&[]).load_balancer.is_none(), "one master has none");
    }
}
