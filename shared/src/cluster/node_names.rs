//! Node names as users type them: the container name (`kube-node-2-cluster-10`), or the
//! short name within the selected cluster (`kube-node-2`, as `--help` and the README
//! write it); when neither matches, the error suggests the closest names.

use crate::error::usage;

/// The container name among `names` (the cluster's node containers, whose names end
/// with `suffix`) that `typed` means; a usage error naming the cluster's nodes otherwise.
pub fn resolve(
    typed: &str,
    names: &[String],
    cluster_key: &str,
    suffix: &str,
) -> anyhow::Result<String> {
    let full = format!("{typed}{suffix}");
    if let Some(name) = names.iter().find(|n| *n == typed || **n == full) {
        return Ok(name.clone());
    }
    let short: Vec<&str> = names
        .iter()
        .map(|n| n.strip_suffix(suffix).unwrap_or(n))
        .collect();
    let typed_short = typed.strip_suffix(suffix).unwrap_or(typed);
    let near = crate::suggest::closest(typed_short, short.iter().copied());
    let hint = match near.as_slice() {
        [] => String::new(),
        near => format!("; did you mean {}?", near.join(" or ")),
    };
    Err(usage(format!(
        "cluster {cluster_key} has no node named {typed}{hint} (its nodes: {})",
        short.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_full_names_resolve_within_the_cluster() {
        let names: Vec<String> = [
            "kube-master-cluster-10",
            "kube-node-1-cluster-10",
            "kube-node-2-cluster-10",
        ]
        .map(String::from)
        .to_vec();
        let table: [(&str, Result<&str, &str>); 5] = [
            ("kube-node-2", Ok("kube-node-2-cluster-10")),
            ("kube-node-2-cluster-10", Ok("kube-node-2-cluster-10")),
            (
                "kube-node-3",
                Err("cluster cluster-10 has no node named kube-node-3; did you mean kube-node-1 or kube-node-2? (its nodes: kube-master, kube-node-1, kube-node-2)"),
            ),
            (
                "kube-node-2-cluster-11",
                Err("cluster cluster-10 has no node named kube-node-2-cluster-11 (its nodes: kube-master, kube-node-1, kube-node-2)"),
            ),
            (
                "worker",
                Err("cluster cluster-10 has no node named worker (its nodes: kube-master, kube-node-1, kube-node-2)"),
            ),
        ];
        for (typed, expected) in table {
            let got = resolve(typed, &names, "cluster-10", "-cluster-10");
            match expected {
                Ok(name) => assert_eq!(got.unwrap(), name, "{typed}"),
                Err(message) => {
                    let error = got.unwrap_err();
                    assert_eq!(crate::error::exit_code(&error), 2);
                    assert_eq!(error.to_string(), message, "{typed}");
                }
            }
        }
        let default: Vec<String> = vec!["kube-master".into(), "kube-node-1".into()];
        assert_eq!(
            resolve("kube-node-1", &default, "default", "").unwrap(),
            "kube-node-1"
        );
    }
}
