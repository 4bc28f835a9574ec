//! When the user gives up: Ctrl-C, SIGTERM, or, under the docker CLI, the plugin socket
//! closing (newer docker CLIs tell plugins about Ctrl-C that way instead of a signal).

use tokio::io::AsyncReadExt;

/// Resolves when the run should stop and clean up.
pub async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
        () = docker_plugin_socket_closed() => {}
    }
}

/// Connects to `DOCKER_CLI_PLUGIN_SOCKET` and resolves when the docker CLI closes it.
/// Never resolves outside the docker CLI.
async fn docker_plugin_socket_closed() {
    let Some(name) = std::env::var_os("DOCKER_CLI_PLUGIN_SOCKET") else {
        return std::future::pending().await;
    };
    let Ok(mut stream) = connect(&name.to_string_lossy()) else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

fn connect(name: &str) -> std::io::Result<tokio::net::UnixStream> {
    let stream = match plugin_socket(name) {
        PluginSocket::Abstract(abstract_name) => connect_abstract(abstract_name)?,
        PluginSocket::Path(path) => std::os::unix::net::UnixStream::connect(path)?,
    };
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}

/// Where the docker CLI listens for its plugins (docker/cli `cli-plugins/socket`):
/// `socket_abstract.go` (Linux, Windows) listens on an abstract socket and hands the name
/// with a leading '@'; `socket_nonabstract.go` (macOS, the BSDs) listens on a socket file
/// under the temporary directory and hands its path.
#[derive(Debug, PartialEq)]
enum PluginSocket<'a> {
    Abstract(&'a str),
    Path(&'a str),
}

fn plugin_socket(name: &str) -> PluginSocket<'_> {
    match name.strip_prefix('@') {
        Some(abstract_name) => PluginSocket::Abstract(abstract_name),
        None => PluginSocket::Path(name),
    }
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    std::os::unix::net::UnixStream::connect_addr(&addr)
}

/// Abstract sockets exist only on Linux; docker hands other Unix systems a path.
#[cfg(not(target_os = "linux"))]
fn connect_abstract(name: &str) -> std::io::Result<std::os::unix::net::UnixStream> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("abstract socket @{name} outside Linux"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_socket_names_follow_docker() {
        assert_eq!(
            plugin_socket("@docker_cli_0123"),
            PluginSocket::Abstract("docker_cli_0123")
        );
        assert_eq!(
            plugin_socket("/tmp/docker_cli_0123"),
            PluginSocket::Path("/tmp/docker_cli_0123")
        );
    }

    #[tokio::test]
    async fn a_socket_file_is_reached_by_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker_cli_test");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let stream = connect(path.to_str().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        drop(accepted);
        let mut stream = stream;
        let mut buf = [0u8; 8];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0);
    }
}
