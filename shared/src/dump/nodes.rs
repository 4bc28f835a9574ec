//! The per-node sections of a dump, read through Docker (exec and the container's own
//! log), so they work whether or not Kubernetes ever came up: service status and
//! journals, processes, the runtime's containers, addresses and routes, the console.

use super::format::Section;
use crate::node::Node;

/// The node services whose status and journal a dump carries.
pub const SERVICES: &[&str] = &["kubelet", "containerd"];

/// `crictl` talks CRI like kubelet does; a node without it (the bare image) still has
/// containerd's own `ctr`, in kubelet's `k8s.io` namespace.
const RUNTIME_CONTAINERS: &str = "if command -v crictl >/dev/null 2>&1; then \
     crictl ps -a; \
     else echo '# crictl is absent; ctr -n k8s.io containers ls, then tasks ls'; \
     ctr -n k8s.io containers ls; ctr -n k8s.io tasks ls; fi";

/// One command of a node section: the section's file name and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    pub file: String,
    pub argv: Vec<String>,
}

/// The commands a dump runs in `node`, with their section names (as kubeadm-dind-cluster
/// named them where it had the section).
pub fn commands(node: &str) -> Vec<NodeCommand> {
    let sh = |script: String| vec!["sh".to_string(), "-c".to_string(), script];
    let mut out: Vec<NodeCommand> = SERVICES
        .iter()
        .map(|svc| NodeCommand {
            file: format!("service-{node}-{svc}.log"),
            argv: sh(format!(
                "systemctl status --no-pager --full {svc}; echo; \
                 journalctl --no-pager --unit {svc}.service"
            )),
        })
        .collect();
    let plain = |file: String, argv: &[&str]| NodeCommand {
        file,
        argv: argv.iter().map(|s| s.to_string()).collect(),
    };
    out.push(plain(format!("psaux-{node}.txt"), &["ps", "auxww"]));
    out.push(NodeCommand {
        file: format!("containers-{node}.txt"),
        argv: sh(RUNTIME_CONTAINERS.to_string()),
    });
    out.push(plain(format!("ip-a-{node}.txt"), &["ip", "a"]));
    out.push(plain(format!("ip-r-{node}.txt"), &["ip", "r"]));
    out
}

/// The name of the section holding a node container's console (its Docker log).
pub fn console_file(node: &str) -> String {
    format!("docker-{node}.log")
}

/// Every section of one node. Each command that cannot run gets a section saying why;
/// a command that fails keeps its output and gets its exit code appended.
pub async fn sections(node: &Node) -> Vec<Section> {
    let runs = commands(&node.name).into_iter().map(|command| async move {
        let argv: Vec<&str> = command.argv.iter().map(String::as_str).collect();
        let body = match node.exec(&argv).await {
            Ok(output) => {
                let mut body = output.stdout;
                body.push_str(&output.stderr);
                if output.exit_code != 0 {
                    if !body.is_empty() && !body.ends_with('\n') {
                        body.push('\n');
                    }
                    body.push_str(&format!("(exit code {})\n", output.exit_code));
                }
                body
            }
            Err(e) => failure(&format!("could not run `{}`", argv.join(" ")), &e),
        };
        Section::new(command.file, body)
    });
    let mut out = futures::future::join_all(runs).await;
    let console = match node.console_log().await {
        Ok(log) => log,
        Err(e) => failure("could not read the node container's log", &e),
    };
    out.push(Section::new(console_file(&node.name), console));
    out
}

/// The body of a section whose part failed.
pub fn failure(what: &str, error: &anyhow::Error) -> String {
    format!("dump: {what}: {error:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_section_names() {
        let names: Vec<String> = commands("kube-master-cluster-45")
            .into_iter()
            .map(|c| c.file)
            .collect();
        assert_eq!(
            names,
            [
                "service-kube-master-cluster-45-kubelet.log",
                "service-kube-master-cluster-45-containerd.log",
                "psaux-kube-master-cluster-45.txt",
                "containers-kube-master-cluster-45.txt",
                "ip-a-kube-master-cluster-45.txt",
                "ip-r-kube-master-cluster-45.txt",
            ]
        );
        assert_eq!(console_file("kube-node-1"), "docker-kube-node-1.log");
    }
}
