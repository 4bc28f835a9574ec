//! The pod interfaces' MTU on a cluster spread over engines: the swarm overlay carries
//! node traffic in VXLAN, 50 bytes less than the hosts' 1500, and pods left at the
//! kernel's 1500 would send packets the overlay fragments or drops.

use serde_json::Value;

/// VXLAN's overhead on a 1500-byte path: Docker's overlay driver uses this when the
/// network carries no `com.docker.network.driver.mtu` option.
pub const OVERLAY_DEFAULT_MTU: u32 = 1450;

/// Sets `mtu` on the `bridge` and `ptp` plugins of rendered config lists
/// (containernetworking/plugins, plugins/main/bridge/README.md and
/// plugins/main/ptp/README.md: "`mtu` (integer, optional): explicitly set MTU to the
/// specified value. Defaults to the value chosen by the kernel."). `None` leaves them.
pub fn set_mtu(files: Vec<(String, String)>, mtu: Option<u32>) -> Vec<(String, String)> {
    let Some(mtu) = mtu else {
        return files;
    };
    super::config::edit_plugins(files, &["bridge", "ptp"], |plugin| {
        plugin["mtu"] = Value::from(mtu)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ClusterPlan;
    use crate::settings::{Cni, Settings};

    #[test]
    fn mtu_goes_on_the_plugins_that_take_it() {
        let plan = ClusterPlan::new(&Settings::from_env_pairs(&[]).unwrap()).unwrap();
        for (cni, mtu, want) in [
            (Cni::Bridge, Some(1450), Some(1450u64)),
            (Cni::Ptp, Some(1400), Some(1400)),
            (Cni::Bridge, None, None),
        ] {
            let files = set_mtu(super::super::node_config_files(cni, plan.master()), mtu);
            let list: Value = serde_json::from_str(&files[0].1).unwrap();
            assert_eq!(list["plugins"][0]["mtu"].as_u64(), want, "{cni:?}");
            assert_eq!(list["plugins"][1].get("mtu"), None, "portmap has no MTU");
        }
    }
}
