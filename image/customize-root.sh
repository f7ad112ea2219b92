#!/usr/bin/env bash
# Turns a Debian 12 root made by mmdebstrap into the appliance root. build.sh runs it as an
# mmdebstrap customize hook: customize-root.sh ROOT BIN_DIR, with BIN_DIR holding the
# stripped signetd and signet and release-key.pem (the update key's public half).
set -euo pipefail
root=$1
bins=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The shared overlay (units, firewall, first-boot scripts, fstab, repart definition).
cp -a "$here/overlay/." "$root/"
install -m 0755 "$bins/signetd" "$bins/signet" "$root/usr/sbin/"
install -D -m 0644 "$bins/release-key.pem" "$root/usr/share/signet/release-key.pem"
install -m 0644 "$bins/release" "$root/usr/lib/signet-release"

# /etc is read-only at run time: accounts are made now, the machine-id at boot (an empty file
# makes systemd generate one; signet-firstboot keeps it), resolv.conf points into /run.
chroot "$root" systemd-sysusers
: > "$root/etc/machine-id"
ln -sf /run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
ln -sf /usr/share/zoneinfo/UTC "$root/etc/localtime"
mkdir -p "$root/efi"

rm -f "$root/etc/systemd/system/sysinit.target.wants/nftables.service"
chroot "$root" systemctl enable -q systemd-networkd.service systemd-resolved.service \
  nftables.service signetd.service signet-firstboot.service signet-console-banner.service \
  signet-health.service systemd-boot-check-no-failures.service signet-partitions.service \
  signet-grub-bless.service signet-console-access.service signet-growfs.service
# No ssh (not installed), no periodic package jobs on an appliance.
chroot "$root" systemctl mask -q apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer 2>/dev/null || true
# What an appliance's boot does not need, each a few seconds of CPU under emulation: module
# loads and static device nodes for fuse, loop, device-mapper, DRM graphics, configfs and
# pstore; debug and tracing file systems; kernel-command-line network setup (networkd and the
# preset do it); the ext4 scrub clean-up. The partitions are found by signet-partitions, not
# by the GPT auto-mounter (which would mount the ESP a second time).
chroot "$root" systemctl mask -q modprobe@drm.service modprobe@fuse.service \
  modprobe@loop.service modprobe@dm_mod.service modprobe@configfs.service \
  modprobe@efi_pstore.service kmod-static-nodes.service systemd-pstore.service \
  sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
  sys-fs-fuse-connections.mount dev-hugepages.mount systemd-network-generator.service \
  e2scrub_reap.service
mkdir -p "$root/etc/systemd/system-generators"
ln -sf /dev/null "$root/etc/systemd/system-generators/systemd-gpt-auto-generator"
# root's password is locked: nobody logs in on the console until the administrator puts a
# password hash in the preset folder (signet/root-password, see signet-console-access).
# No network login service is installed; the console runs the `signet` CLI.
chroot "$root" usermod -p '!*' root

# Kernel modules an appliance never loads (sound, graphics, radio, ...): a third of the root.
kver=$(ls "$root/usr/lib/modules")
k=$root/usr/lib/modules/$kver/kernel
rm -rf "$k/sound" "$k/drivers/gpu" "$k/drivers/media" "$k/drivers/infiniband" \
  "$k/drivers/staging" "$k/drivers/net/wireless" "$k/net/wireless" "$k/net/mac80211" \
  "$k/net/bluetooth" "$k/drivers/bluetooth" "$k/drivers/iio" "$k/drivers/comedi" \
  "$k/drivers/isdn" "$k/drivers/parport" "$k/arch/x86/kvm" "$k/drivers/input/joystick" \
  "$k/drivers/input/touchscreen" "$k/drivers/video" "$k/drivers/hwmon" "$k/drivers/net/can" \
  "$k/net/can" "$k/drivers/net/hamradio" "$k/net/ax25"
chroot "$root" depmod -a "$kver"

# A small initramfs: only what finds and mounts the root, on VMs (virtio, Hyper-V, VMware,
# qemu's IDE) and common hardware (SATA/AHCI, NVMe, USB, SD/eMMC). The drivers are included
# but not loaded unconditionally: udev loads the ones the machine has (each load costs time
# under emulation); erofs is loaded to mount the root. ext4 and vfat come later from the root.
: > "$root/etc/initramfs-tools/modules"
cat > "$root/etc/initramfs-tools/hooks/signet-storage" <<'EOF'
#!/bin/sh
# Storage drivers the appliance's root may be on (image/customize-root.sh).
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for m in erofs virtio_pci virtio_blk virtio_scsi sd_mod ahci ata_piix nvme xhci_pci \
  usb_storage uas mmc_block sdhci_pci hv_storvsc vmw_pvscsi; do
  manual_add_modules "$m"
done
EOF
chmod 0755 "$root/etc/initramfs-tools/hooks/signet-storage"
echo RESUME=none > "$root/etc/initramfs-tools/conf.d/resume"   # no swap: never wait for one
sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=zstd/' \
  "$root/etc/initramfs-tools/initramfs.conf"
chroot "$root" update-initramfs -u -k "$kver" >/dev/null

rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
  "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
