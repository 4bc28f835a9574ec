//! Commands that do not yet act across the engines of `--docker-hosts` refuse a list of
//! several, instead of acting on the first engine only and leaving the rest untouched.

use super::DindCommand;
use crate::error::usage;
use crate::settings::Layer;

/// The commands that work on one engine only, by name.
fn single_engine_command(command: &DindCommand) -> Option<&'static str> {
    Some(match command {
        DindCommand::ApiserverPort(_) => "apiserver-port",
        DindCommand::Reup(_) => "reup",
        _ => return None,
    })
}

/// Refuses `command` when its settings spread the cluster over several engines and the
/// command works on one engine only.
pub fn refuse_spread(command: &mut DindCommand) -> anyhow::Result<()> {
    let Some(name) = single_engine_command(command) else {
        return Ok(());
    };
    let Some(layer) = command.settings_mut() else {
        return Ok(());
    };
    let layer: Layer = layer.clone();
    let hosts = super::flags::SettingsFlags(layer).settings()?.docker_hosts;
    if hosts.len() > 1 {
        return Err(usage(format!(
            "{name} does not work across several --docker-hosts engines yet; \
             up, down, restore, snapshot, pause, unpause, clean, nodes, support, load, join, \
             remove-node and dump do"
        )));
    }
    Ok(())
}
