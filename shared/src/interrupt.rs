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
    use std::os::linux::net::SocketAddrExt;
    // The docker CLI listens on an abstract socket on Linux, named with a leading '@'.
    let stream = match name.strip_prefix('@') {
        Some(abstract_name) => {
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
            std::os::unix::net::UnixStream::connect_addr(&addr)?
        }
        None => std::os::unix::net::UnixStream::connect(name)?,
    };
    stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(stream)
}
