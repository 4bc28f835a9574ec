//! What the nodes' containerd and kubelet need to pull through a registry mirror, from an
//! insecure registry, behind a proxy, or from a registry or proxy with a private CA:
//! the files, rendered purely from the settings and the plan, that are placed into each
//! node container after it is created and before it starts, so containerd and kubelet
//! read them on their first start.
//!
//! - Registries use containerd's hosts directory: one `hosts.toml` per registry host
//!   under `/etc/containerd/certs.d/<host>/` (containerd/containerd `docs/hosts.md`).
//!   The node's `/etc/containerd/config.toml` points the CRI image service's registry
//!   `config_path` there, as that document requires for CRI pulls.
//! - The CA goes to `/usr/local/share/ca-certificates/`, and a containerd drop-in runs
//!   `update-ca-certificates` before containerd starts, so its TLS pool includes it.
//! - Proxies become `Environment=` lines of systemd drop-ins for `containerd.service`
//!   and `kubelet.service`, in both spellings (Go's `net/http` reads either).

use crate::error::usage;
use crate::node::NodeFile;
use crate::plan::ClusterPlan;
use crate::settings::Settings;

/// containerd's hosts directory, as `config_path` in the node's config.toml names it.
pub const CERTS_DIR: &str = "/etc/containerd/certs.d";

/// Where the extra CA lands; `update-ca-certificates` picks up `*.crt` there.
pub const CA_FILE: &str = "/usr/local/share/ca-certificates/dind-extra-ca.crt";

/// The drop-ins dind writes.
pub const CONTAINERD_PROXY_DROPIN: &str =
    "/etc/systemd/system/containerd.service.d/20-dind-proxy.conf";
pub const KUBELET_PROXY_DROPIN: &str = "/etc/systemd/system/kubelet.service.d/20-dind-proxy.conf";
pub const CONTAINERD_CA_DROPIN: &str = "/etc/systemd/system/containerd.service.d/20-dind-ca.conf";

/// Where Docker Hub's images really come from; the mirror's `server`.
const DOCKER_HUB: (&str, &str) = ("docker.io", "https://registry-1.docker.io");

/// The proxy settings the nodes get.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxy {
    pub http: Option<String>,
    pub https: Option<String>,
    /// Always holds the cluster's own ranges and names when a proxy is set.
    pub no_proxy: Vec<String>,
}

/// The proxy settings: `DIND_*` first, then, with `DIND_PROPAGATE_HTTP_PROXY`, the CLI's
/// own `HTTP_PROXY`/`http_proxy` and friends (`host_env` reads this machine's variables).
/// `None` when no proxy is set.
pub fn proxy(
    settings: &Settings,
    plan: &ClusterPlan,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Proxy>> {
    let from_host = |upper: &str| -> Option<String> {
        if !settings.propagate_http_proxy {
            return None;
        }
        host_env(upper)
            .or_else(|| host_env(&upper.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let http = settings
        .http_proxy
        .clone()
        .or_else(|| from_host("HTTP_PROXY"));
    let https = settings
        .https_proxy
        .clone()
        .or_else(|| from_host("HTTPS_PROXY"));
    let given = settings.no_proxy.clone().or_else(|| from_host("NO_PROXY"));
    for item in given.iter().flat_map(|list| list.split(',')) {
        check_env_value("DIND_NO_PROXY entry", item.trim())?;
    }
    if http.is_none() && https.is_none() {
        return Ok(None);
    }
    let mut no_proxy: Vec<String> = Vec::new();
    let mut add = |item: String| {
        if !item.is_empty() && !no_proxy.contains(&item) {
            no_proxy.push(item);
        }
    };
    for item in given.unwrap_or_default().split(',') {
        add(item.trim().to_string());
    }
    for item in ["localhost", "127.0.0.1", "::1"] {
        add(item.to_string());
    }
    for net in plan
        .network
        .subnets
        .iter()
        .chain(&plan.pod_cidrs)
        .chain(&plan.service_cidrs)
    {
        add(net.to_string());
    }
    for node in &plan.nodes {
        add(node.name.clone());
    }
    let proxy = Proxy {
        http,
        https,
        no_proxy,
    };
    for (what, value) in [
        ("DIND_HTTP_PROXY", &proxy.http),
        ("DIND_HTTPS_PROXY", &proxy.https),
    ] {
        if let Some(value) = value {
            check_proxy_url(what, value)?;
        }
    }
    for value in &proxy.no_proxy {
        check_env_value("DIND_NO_PROXY entry", value)?;
    }
    Ok(Some(proxy))
}

/// A value that goes into a systemd `Environment="K=V"` line: no quotes, backslashes,
/// whitespace or `%` (systemd specifiers).
fn check_env_value(what: &str, value: &str) -> anyhow::Result<()> {
    if value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '%'))
    {
        return Err(usage(format!(
            "invalid {what} {value:?}: it may not hold spaces, quotes, backslashes or %"
        )));
    }
    Ok(())
}

/// A proxy URL as Go's net/http takes it from `HTTP_PROXY`: `http://`, `https://` or
/// `socks5://`, optional `user:password@`, a host and an optional port, and nothing
/// systemd's `Environment=` line cannot carry. The password is never printed.
pub fn check_proxy_url(what: &str, value: &str) -> anyhow::Result<()> {
    let shown = without_password(value);
    let bad = |why: &str| usage(format!("invalid {what} {shown:?}: {why}"));
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\'))
    {
        return Err(bad("it may not hold spaces, quotes or backslashes"));
    }
    let (scheme, rest) = value
        .split_once("://")
        .ok_or_else(|| bad("expected a URL such as http://proxy.example:3128"))?;
    if !matches!(scheme, "http" | "https" | "socks5" | "socks5h") {
        return Err(bad("the scheme must be http, https, socks5 or socks5h"));
    }
    if !percent_encoding_is_valid(value) {
        return Err(bad(
            "a % must start a percent-encoded byte such as %40 (write a literal % as %25)",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (name, port) =
        split_host_port(host).ok_or_else(|| bad("expected HOST[:PORT] after the scheme"))?;
    let name_ok = name.parse::<std::net::IpAddr>().is_ok() || is_dns_name(name);
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !name_ok || !port_ok {
        return Err(bad(
            "expected HOST[:PORT] after the scheme, with a port from 1 to 65535",
        ));
    }
    Ok(())
}

/// Every `%` starts `%XX` with two hex digits, as Go's net/url requires of a proxy URL
/// (`invalid URL escape` otherwise, and containerd and kubelet would run without a proxy).
fn percent_encoding_is_valid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// The URL with any password replaced by `***`, for messages.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// The drop-in that gives a service the proxy variables.
pub fn proxy_dropin(proxy: &Proxy) -> String {
    let mut text = String::from(
        "# Written by dind from DIND_HTTP_PROXY, DIND_HTTPS_PROXY and DIND_NO_PROXY.\n[Service]\n",
    );
    let no_proxy = proxy.no_proxy.join(",");
    let pairs = [
        ("HTTP_PROXY", proxy.http.as_deref()),
        ("HTTPS_PROXY", proxy.https.as_deref()),
        ("NO_PROXY", Some(no_proxy.as_str())),
    ];
    for (name, value) in pairs {
        if let Some(value) = value {
            // `%` starts a systemd specifier; `%%` is a literal one (a percent-encoded
            // password).
            let value = value.replace('%', "%%");
            text.push_str(&format!("Environment=\"{name}={value}\"\n"));
            text.push_str(&format!(
                "Environment=\"{}={value}\"\n",
                name.to_ascii_lowercase()
            ));
        }
    }
    text
}

/// A registry host as containerd names its directory: `HOST[:PORT]`, lower-case, no
/// scheme or path. Every dot-separated part of the name is a DNS label (or the host is
/// an IP address), so the directory under certs.d can never be `.` or `..`.
pub fn registry_host(entry: &str) -> anyhow::Result<String> {
    let host = entry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let bad = || {
        usage(format!(
            "invalid registry {entry:?}: expected HOST or HOST:PORT, e.g. registry.local:5000"
        ))
    };
    let (name, port) = split_host_port(host).ok_or_else(bad)?;
    let name_ok = name.parse::<std::net::IpAddr>().is_ok() || is_dns_name(name);
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !(name_ok && port_ok) {
        return Err(bad());
    }
    Ok(host.to_ascii_lowercase())
}

/// `name[:port]` or `[v6]:port` / `[v6]`: (name without brackets, port text).
fn split_host_port(host: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        return match after {
            "" => Some((v6, None)),
            _ => Some((v6, Some(after.strip_prefix(':')?))),
        };
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => Some((name, Some(port))),
        Some(_) => None,
        None => Some((host, None)),
    }
}

/// Letters, digits, `-` and `_` in dot-separated parts, none empty, none starting or
/// ending with `-`.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && !part.starts_with('-')
                && !part.ends_with('-')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        })
}

/// The mirror as a URL; `https://` when no scheme is given.
pub fn mirror_url(mirror: &str) -> anyhow::Result<String> {
    let mirror = mirror.trim().trim_end_matches('/');
    let url = if mirror.starts_with("http://") || mirror.starts_with("https://") {
        mirror.to_string()
    } else {
        format!("https://{mirror}")
    };
    registry_host(&url)?;
    Ok(url)
}

/// Every `hosts.toml`, as (path, content). `mirror_is_named`: the mirror setting names
/// a dind pull-through registry, whose file [`super::registry_mirror`] renders.
pub fn hosts_files(
    settings: &Settings,
    mirror_is_named: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let insecure: Vec<String> = settings
        .insecure_registries
        .iter()
        .map(|r| registry_host(r))
        .collect::<anyhow::Result<_>>()?;
    let mut files = Vec::new();
    let given_mirror = settings
        .registry_mirror
        .as_ref()
        .filter(|_| !mirror_is_named);
    if let Some(mirror) = given_mirror {
        let url = mirror_url(mirror)?;
        let skip_verify = insecure.contains(&registry_host(&url)?);
        let (hub, server) = DOCKER_HUB;
        let mut text = format!(
            "# Written by dind: DIND_REGISTRY_MIRROR. Pulls from {hub} try the mirror first.\n\
             server = \"{server}\"\n\n[host.\"{url}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        if skip_verify {
            text.push_str("  skip_verify = true\n");
        }
        files.push((format!("{CERTS_DIR}/{hub}/hosts.toml"), text));
    }
    for host in &insecure {
        // As Docker's insecure registries: HTTPS without verifying the certificate, then
        // plain HTTP. containerd tries the hosts in order.
        let text = format!(
            "# Written by dind: DIND_INSECURE_REGISTRIES.\n\
             server = \"https://{host}\"\n\n\
             [host.\"https://{host}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  skip_verify = true\n\n\
             [host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"
        );
        files.push((format!("{CERTS_DIR}/{host}/hosts.toml"), text));
    }
    Ok(files)
}

/// The containerd drop-in that refreshes the trust store before containerd starts.
pub fn ca_dropin() -> String {
    "# Written by dind: DIND_CA_CERT_URL / --ca-cert.\n[Service]\nExecStartPre=/usr/sbin/update-ca-certificates\n"
        .to_string()
}

/// Checks that `pem` is a PEM certificate.
pub fn check_ca(source: &str, pem: &str) -> anyhow::Result<()> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(usage(format!(
            "the CA certificate {source} is not a PEM certificate (no BEGIN CERTIFICATE line)"
        )));
    }
    Ok(())
}

/// Every file the registry, CA and proxy settings put into each node. `named_mirror`:
/// the `hosts.toml` of the dind pull-through registry `--registry-mirror` names, if so.
pub fn node_files(
    settings: &Settings,
    plan: &ClusterPlan,
    ca_pem: Option<&str>,
    host_env: &dyn Fn(&str) -> Option<String>,
    named_mirror: Option<NodeFile>,
) -> anyhow::Result<Vec<NodeFile>> {
    let mirror_is_named = named_mirror.is_some();
    let mut files: Vec<NodeFile> = named_mirror.into_iter().collect();
    files.extend(
        hosts_files(settings, mirror_is_named)?
            .into_iter()
            .map(|(path, text)| NodeFile::new(path, text)),
    );
    if let Some(pem) = ca_pem {
        files.push(NodeFile::new(CA_FILE, pem));
        files.push(NodeFile::new(CONTAINERD_CA_DROPIN, ca_dropin()));
    }
    if let Some(proxy) = proxy(settings, plan, host_env)? {
        let dropin = proxy_dropin(&proxy);
        files.push(NodeFile::new(CONTAINERD_PROXY_DROPIN, dropin.clone()));
        files.push(NodeFile::new(KUBELET_PROXY_DROPIN, dropin));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries() {
        let table: &[(&str, Option<&str>)] = &[
            ("registry.local:5000", Some("registry.local:5000")),
            ("http://Reg.Local/", Some("reg.local")),
            ("10.0.0.1:5000", Some("10.0.0.1:5000")),
            ("[fd00::1]:5000", Some("[fd00::1]:5000")),
            ("my_reg", Some("my_reg")),
            ("..", None),
            (".", None),
            ("a..b", None),
            ("a/b", None),
            ("a b", None),
            ("host:99999", None),
            ("host:0", None),
            ("host:", None),
            ("", None),
            ("-a.b", None),
            ("[fd00::1", None),
            ("a:b:c", None),
        ];
        for (entry, want) in table {
            assert_eq!(registry_host(entry).ok().as_deref(), *want, "{entry:?}");
        }
    }

    #[test]
    fn proxies() {
        let table: &[(&str, bool)] = &[
            ("http://proxy:3128", true),
            ("http://user:p%40ss@proxy:3128/", true),
            ("https://10.0.0.1", true),
            ("socks5://[fd00::1]:1080", true),
            ("http://a b", false),
            ("not a url", false),
            ("ftp://x", false),
            ("http://h:99999", false),
            ("http://", false),
            ("proxy:3128", false),
            ("http://\"x\"", false),
            ("http://u:p%25%41ss@proxy:3128", true),
            ("http://u:100%@proxy:3128", false),
            ("http://u:%zz@proxy:3128", false),
            ("http://proxy:3128/%4", false),
        ];
        for (value, ok) in table {
            assert_eq!(check_proxy_url("proxy", value).is_ok(), *ok, "{value:?}");
        }
        let error = check_proxy_url("proxy", "http://u:secret@h:99999")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains("u:***@h:99999"), "{error}");
        for value in ["http://u:se%cret@h:1", "http://u:secret%@h:1"] {
            let error = check_proxy_url("proxy", value).unwrap_err().to_string();
            assert!(!error.contains("cret"), "{error}");
            assert!(error.contains("percent-encoded"), "{error}");
        }
    }

    #[test]
    fn passwords_are_hidden() {
        let table = [
            ("http://u:pw@h:1/x", "http://u:***@h:1/x"),
            ("http://u@h", "http://u@h"),
            ("http://h", "http://h"),
            ("http://u:p@w@h", "http://u:***@h"),
            ("nothing", "nothing"),
        ];
        for (url, want) in table {
            assert_eq!(without_password(url), want);
        }
    }

    fn setup(pairs: &[(&str, &str)]) -> (Settings, ClusterPlan) {
        let settings = Settings::from_env_pairs(pairs).unwrap();
        let plan = ClusterPlan::new(&settings).unwrap();
        (settings, plan)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn registry_files() {
        // (settings, expected (path, [needles]))
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [(&'a str, &'a [&'a str])]);
        let table: &[Case] = &[
            (&[], &[]),
            (
                &[("DIND_REGISTRY_MIRROR", "https://mirror.example.com/")],
                &[(
                    "/etc/containerd/certs.d/docker.io/hosts.toml",
                    &[
                        "server = \"https://registry-1.docker.io\"",
                        "[host.\"https://mirror.example.com\"]",
                        "capabilities = [\"pull\", \"resolve\"]",
                    ],
                )],
            ),
            (
                &[
                    ("DIND_REGISTRY_MIRROR", "mirror.local:5000"),
                    (
                        "DIND_INSECURE_REGISTRIES",
                        r#"["mirror.local:5000", "reg.test"]"#,
                    ),
                ],
                &[
                    (
                        "/etc/containerd/certs.d/docker.io/hosts.toml",
                        &["[host.\"https://mirror.local:5000\"]", "skip_verify = true"],
                    ),
                    (
                        "/etc/containerd/certs.d/mirror.local:5000/hosts.toml",
                        &["server = \"https://mirror.local:5000\""],
                    ),
                    (
                        "/etc/containerd/certs.d/reg.test/hosts.toml",
                        &[
                            "[host.\"https://reg.test\"]",
                            "skip_verify = true",
                            "[host.\"http://reg.test\"]",
                        ],
                    ),
                ],
            ),
            (
                &[("DIND_INSECURE_REGISTRIES", "a.test:5000, http://B.test")],
                &[
                    (
                        "/etc/containerd/certs.d/a.test:5000/hosts.toml",
                        &["http://a.test:5000"],
                    ),
                    (
                        "/etc/containerd/certs.d/b.test/hosts.toml",
                        &["http://b.test"],
                    ),
                ],
            ),
        ];
        for (pairs, expected) in table {
            let (settings, _) = setup(pairs);
            let files = hosts_files(&settings, false).unwrap();
            assert_eq!(files.len(), expected.len(), "{pairs:?}: {files:?}");
            for ((path, text), (want_path, needles)) in files.iter().zip(expected.iter()) {
                assert_eq!(path, want_path, "{pairs:?}");
                for needle in *needles {
                    assert!(text.contains(needle), "{path} lacks {needle}:\n{text}");
                }
                // Every file is TOML containerd can read.
                let parsed: serde_json::Value = toml_lite(text);
                assert!(parsed.get("server").is_some(), "{text}");
            }
        }
    }

    /// The subset of TOML the hosts files use: `key = value` lines and `[table]` headers.
    fn toml_lite(text: &str) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            let (key, value) = line.split_once(" = ").expect("key = value");
            root.insert(key.to_string(), serde_json::from_str(value).expect(value));
        }
        serde_json::Value::Object(root)
    }

    #[test]
    fn bad_registries_are_usage_errors() {
        for pairs in [
            &[("DIND_INSECURE_REGISTRIES", "[\"a\", 3]")][..],
            &[("DIND_INSECURE_REGISTRIES", "reg.test/path")][..],
            &[("DIND_REGISTRY_MIRROR", "https://mirror test")][..],
        ] {
            let err = Settings::from_env_pairs(pairs)
                .and_then(|s| hosts_files(&s, false).map(drop))
                .unwrap_err();
            assert_eq!(crate::error::exit_code(&err), 2, "{pairs:?}");
        }
    }

    #[test]
    fn proxies_and_their_exceptions() {
        let (settings, plan) = setup(&[
            ("CLUSTER_ID", "3"),
            ("DIND_HTTP_PROXY", "http://proxy.corp:3128"),
            ("DIND_NO_PROXY", "corp.example,localhost"),
        ]);
        let given = proxy(&settings, &plan, &no_env).unwrap().unwrap();
        assert_eq!(given.http.as_deref(), Some("http://proxy.corp:3128"));
        assert_eq!(given.https, None);
        assert_eq!(
            given.no_proxy,
            [
                "corp.example",
                "localhost",
                "127.0.0.1",
                "::1",
                "10.192.3.0/24",
                "10.244.0.0/16",
                "10.96.0.0/12",
                "kube-master-cluster-3",
                "kube-node-1-cluster-3",
                "kube-node-2-cluster-3",
            ]
        );
        let dropin = proxy_dropin(&given);
        for line in [
            "[Service]",
            "Environment=\"HTTP_PROXY=http://proxy.corp:3128\"",
            "Environment=\"http_proxy=http://proxy.corp:3128\"",
            "Environment=\"NO_PROXY=corp.example,localhost,127.0.0.1,::1,10.192.3.0/24,",
            "kube-node-2-cluster-3\"",
        ] {
            assert!(dropin.contains(line), "{line}:\n{dropin}");
        }
        assert!(!dropin.contains("Environment=\"HTTPS_PROXY"));

        // No proxy, no files; the host's variables only with propagation.
        let host = |name: &str| match name {
            "https_proxy" => Some("http://host-proxy:8080".to_string()),
            "NO_PROXY" => Some("internal".to_string()),
            _ => None,
        };
        let (plain, plan) = setup(&[]);
        assert_eq!(proxy(&plain, &plan, &host).unwrap(), None);
        let (propagate, plan) = setup(&[
            ("DIND_PROPAGATE_HTTP_PROXY", "true"),
            ("IP_MODE", "dual-stack"),
        ]);
        let p = proxy(&propagate, &plan, &host).unwrap().unwrap();
        assert_eq!(p.https.as_deref(), Some("http://host-proxy:8080"));
        assert_eq!(p.no_proxy[0], "internal");
        assert!(p.no_proxy.contains(
            &"fd00:20:0::/64"
                .parse::<ipnet::IpNet>()
                .unwrap()
                .to_string()
        ));
        // An explicit setting beats the host's.
        let (both, plan) = setup(&[
            ("DIND_PROPAGATE_HTTP_PROXY", "true"),
            ("DIND_HTTPS_PROXY", "http://mine:1"),
        ]);
        let p = proxy(&both, &plan, &host).unwrap().unwrap();
        assert_eq!(p.https.as_deref(), Some("http://mine:1"));

        let (bad, plan) = setup(&[("DIND_HTTP_PROXY", "http://a b")]);
        assert_eq!(
            crate::error::exit_code(&proxy(&bad, &plan, &no_env).unwrap_err()),
            2
        );
    }

    #[test]
    fn every_file_a_node_gets() {
        let (settings, plan) = setup(&[
            ("DIND_REGISTRY_MIRROR", "https://m.test"),
            ("DIND_HTTPS_PROXY", "http://p:1"),
        ]);
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let files = node_files(&settings, &plan, Some(pem), &no_env, None).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/containerd/certs.d/docker.io/hosts.toml",
                CA_FILE,
                CONTAINERD_CA_DROPIN,
                CONTAINERD_PROXY_DROPIN,
                KUBELET_PROXY_DROPIN,
            ]
        );
        // Nothing under the tmpfs mounts, where files written before the start vanish.
        assert!(paths
            .iter()
            .all(|p| !p.starts_with("/run/") && !p.starts_with("/tmp/")));
        assert!(ca_dropin().contains("ExecStartPre=/usr/sbin/update-ca-certificates"));
        assert!(check_ca("x", pem).is_ok());
        assert_eq!(
            crate::error::exit_code(&check_ca("x", "hello").unwrap_err()),
            2
        );
    }
}
