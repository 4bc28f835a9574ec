//! `--docker-hosts`: the engines a cluster spreads over. Each entry is what `docker -H`
//! accepts (it has `://`) or a docker context name; the first holds the master.

use super::values::split_list;
use crate::error::usage;

/// Splits the list and refuses an entry given twice: the same engine twice would place
/// two nodes' worth of round-robin turns on it while looking like two engines.
pub fn parse_docker_hosts(value: Option<&str>) -> anyhow::Result<Vec<String>> {
    let hosts = split_list(value);
    for (i, host) in hosts.iter().enumerate() {
        if hosts[..i].contains(host) {
            return Err(usage(format!(
                "--docker-hosts (DIND_DOCKER_HOSTS, config key docker-hosts) names {host:?} twice"
            )));
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_duplicates() {
        type Case = (
            Option<&'static str>,
            Result<Vec<&'static str>, &'static str>,
        );
        let table: [Case; 4] = [
            (None, Ok(vec![])),
            (
                Some("unix:///var/run/docker.sock, ssh://b"),
                Ok(vec!["unix:///var/run/docker.sock", "ssh://b"]),
            ),
            (Some("ctx-a,ctx-b,"), Ok(vec!["ctx-a", "ctx-b"])),
            (Some("a,b,a"), Err("names \"a\" twice")),
        ];
        for (value, want) in table {
            match (parse_docker_hosts(value), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value:?}"),
                (Err(e), Err(needle)) => {
                    assert_eq!(crate::error::exit_code(&e), 2);
                    assert!(e.to_string().contains(needle), "{e}");
                }
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
