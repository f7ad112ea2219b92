#!/bin/sh
# BR2_ROOTFS_POST_IMAGE_SCRIPT: the systemd-boot files of the ESP, then genimage.
set -eu
efi="$BINARIES_DIR/efi-part"
mkdir -p "$efi/EFI/BOOT" "$efi/loader/entries"
cp "$BINARIES_DIR/systemd-bootx64.efi" "$efi/EFI/BOOT/BOOTX64.EFI"
printf 'timeout 0\nconsole-mode keep\n' > "$efi/loader/loader.conf"
printf 'title Signet (slot A)\nsort-key signet\nversion 1\nlinux /bzImage\noptions root=PARTUUID=5e6a7c1e-9b1f-4d2a-a0a5-3f1c2b6d0a01 ro rootfstype=erofs console=ttyS0,115200\n' \
  > "$efi/loader/entries/slot-a.conf"
exec support/scripts/genimage.sh -c "$BR2_EXTERNAL_SIGNET_PATH/board/signet/genimage.cfg"
