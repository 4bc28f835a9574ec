# The dind node image: systemd as PID 1, containerd 2.x, runc, the CNI plugins and the
# tools kubeadm and kubelet call. Rendered by dind; do not edit the copy in a build context.
#
# Base: trixie (systemd 257 still boots on cgroup v1 hosts; forky's 262 does not), with the
# container runtime from forky pinned at low priority, because Kubernetes 1.36 and later
# need containerd 2.x, which trixie does not have. One recipe serves cgroup v1 and v2 hosts.
FROM debian:trixie-slim AS node
ENV container=docker DEBIAN_FRONTEND=noninteractive
COPY apt/ /etc/apt/
# Every node copies /var from the image into its volume, so caches are dropped.
# Debian's dated snapshots of forky can carry an expired Release file; the check is
# harmless to skip for a pinned, signed archive.
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && apt-get install -y --no-install-recommends \
      systemd systemd-sysv dbus iproute2 iptables nftables conntrack socat ethtool kmod \
      ca-certificates curl procps util-linux mount \
 && apt-get install -y --no-install-recommends -t forky containerd runc containernetworking-plugins \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin
COPY rootfs/ /
# /etc/machine-id is left empty (and dbus's copy points at it), so that systemd gives
# every node its own at first boot and keeps it in the node's layer across restarts.
# Units that cannot work in a container, would fight the host, or only slow every boot
# (first-boot caches, kernel filesystems the host already has) are masked.
RUN systemctl mask systemd-modules-load.service getty.target console-getty.service \
      systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
      systemd-logind.service systemd-firstboot.service systemd-remount-fs.service \
      ldconfig.service systemd-update-done.service systemd-journal-catalog-update.service \
      modprobe@.service dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
      sys-kernel-config.mount sys-fs-fuse-connections.mount \
 && systemctl enable containerd.service kubelet.service dind-net64.service dind-node-setup.service \
      dind-images.service \
      dind-pod-network.service \
 && rm -f /var/lib/dbus/machine-id && : > /etc/machine-id && ln -s /etc/machine-id /var/lib/dbus/machine-id
KUBE_BINARIES
STOPSIGNAL SIGRTMIN+3
# dind-entrypoint applies what must precede systemd, then execs it as PID 1.
ENTRYPOINT ["/usr/local/bin/dind-entrypoint"]
