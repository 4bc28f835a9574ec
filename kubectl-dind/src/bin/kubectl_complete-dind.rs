//! `kubectl_complete-dind`: what kubectl (1.26 and later) runs from PATH to complete
//! `kubectl dind ...`, with the words typed after `dind` (the last one being completed).
//! It asks `kubectl-dind __complete WORDS`, found beside this binary (as `install.sh` and
//! the krew archive place them) or else on PATH, and passes its answer through.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let here = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("kubectl-dind")))
        .filter(|path| path.is_file());
    let plugin = here.unwrap_or_else(|| PathBuf::from("kubectl-dind"));
    let status = Command::new(&plugin)
        .arg("__complete")
        .args(std::env::args_os().skip(1))
        .status();
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("Error: running {}: {e}", plugin.display());
            // An answer kubectl understands: nothing to offer, no file names.
            println!(":4");
            std::process::exit(1);
        }
    }
}
