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

chroot "$root" systemctl enable -q systemd-networkd.service systemd-resolved.service \
  nftables.service signetd.service signet-firstboot.service signet-console-banner.service \
  signet-health.service systemd-boot-check-no-failures.service
# No ssh (not installed), no periodic package jobs on an appliance.
chroot "$root" systemctl mask -q apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer 2>/dev/null || true
# root logs in on the console (keyboard, serial, hypervisor) without a password: no network
# login service is installed, so the console is the only way in, and it runs the `signet` CLI.
chroot "$root" passwd -q -d root

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

# A small initramfs: only what finds and mounts the root on VMs and common hardware.
printf '%s\n' erofs ext4 vfat virtio_pci virtio_blk virtio_scsi sd_mod ahci nvme xhci_pci \
  usb_storage uas mmc_block sdhci_pci > "$root/etc/initramfs-tools/modules"
sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=zstd/' \
  "$root/etc/initramfs-tools/initramfs.conf"
chroot "$root" update-initramfs -u -k "$kver" >/dev/null

rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* \
  "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
