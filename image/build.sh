#!/usr/bin/env bash
# Builds the Signet appliance disk image from Debian 12 packages and a release signetd.
#
#   image/build.sh                       -> $IMAGE_WORK/out/signet.raw and signet.qcow2
#
# Layout (GPT):  1 bios-boot 1 MiB | 2 esp FAT32 128 MiB | 3 root-a | 4 root-b | 5 data ext4
#   * esp: systemd-boot (UEFI) and GRUB's modules (BIOS), with the kernel and initrd of each
#     slot in /slot-a and /slot-b; boot entries in /loader/entries, GRUB's grub.cfg and
#     grubenv (boot counting) in /grub; the preset folder /signet.
#   * root-a, root-b: the read-only root (erofs), one per update slot. B starts empty. Both
#     loaders name the root by PARTUUID (new ones at every build), so a second disk with the
#     same partition names cannot be mounted as the root.
#   * data: mounted at /var; grown to fill the disk at every boot by systemd-repart.
# No mounts and no loop devices (the build machines cannot mount FAT): the ESP is made with
# mtools, the disk with sfdisk and dd, and GRUB's BIOS boot code is put in place by hand.
#
# Environment:
#   IMAGE_WORK    work and output folder (default <cargo target dir>/image)
#   SIGNETD_BIN, SIGNET_BIN   the binaries (default target/release/signetd and signet)
#   RELEASE_KEY   ed25519 private key (PEM) whose public half the image trusts for updates;
#                 default $IMAGE_WORK/keys/release.pem, made when missing (a development key)
#   RELEASE       the version recorded in the image (default from Cargo.toml + git)
#   MIRROR        apt sources for mmdebstrap (default /etc/apt/sources.list.d/debian.sources)
# Needs root (mmdebstrap --mode=root) and the packages listed in NEEDED below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/sbin:/sbin" MTOOLS_SKIP_CHECK=1

TARGET_DIR=${CARGO_TARGET_DIR:-target}
W=${IMAGE_WORK:-$TARGET_DIR/image}
SIGNETD_BIN=${SIGNETD_BIN:-$TARGET_DIR/release/signetd}
SIGNET_BIN=${SIGNET_BIN:-$TARGET_DIR/release/signet}
MIRROR=${MIRROR:-/etc/apt/sources.list.d/debian.sources}
RELEASE=${RELEASE:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)+$(git rev-parse --short HEAD 2>/dev/null || echo local)}

# "command|package" pairs: what must be installed on the build machine.
NEEDED=("mmdebstrap|mmdebstrap" "mkfs.erofs|erofs-utils" "mkfs.vfat|dosfstools" "mcopy|mtools"
  "sfdisk|fdisk" "mkfs.ext4|e2fsprogs" "grub-mkimage|grub-pc-bin" "qemu-img|qemu-utils"
  "/usr/lib/systemd/boot/efi/systemd-bootx64.efi|systemd-boot-efi" "openssl|openssl"
  "grub-editenv|grub-common"
  "objcopy|binutils" "python3|python3")
missing=()
for n in "${NEEDED[@]}"; do
  c=${n%%|*}
  if [[ $c == /* ]]; then [[ -e $c ]] || missing+=("${n#*|}"); else
    command -v "$c" >/dev/null || missing+=("${n#*|}"); fi
done
if ((${#missing[@]})); then
  echo "build: missing packages; install them with:" >&2
  echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
[[ $(id -u) == 0 ]] || { echo "build: needs root (mmdebstrap --mode=root)" >&2; exit 1; }
for b in "$SIGNETD_BIN" "$SIGNET_BIN"; do
  [[ -x $b ]] || { echo "build: no $b (cargo build --release --bins)" >&2; exit 1; }
done

mkdir -p "$W"
W=$(cd "$W" && pwd)
out=$W/out
rm -rf "$W/rootfs" "$W/bin" "$W/parts" "$out"
mkdir -p "$W/bin" "$W/parts" "$out" "$W/keys"
t_start=$SECONDS
log() { echo "build: [$((SECONDS - t_start)) s] $*"; }

# ---- 1. binaries (without debug info) and the release key
objcopy --strip-debug "$SIGNETD_BIN" "$W/bin/signetd"
objcopy --strip-debug "$SIGNET_BIN" "$W/bin/signet"
RELEASE_KEY=${RELEASE_KEY:-$W/keys/release.pem}
if [[ ! -e $RELEASE_KEY ]]; then
  log "no release key: making a development key at $RELEASE_KEY"
  (umask 077 && openssl genpkey -algorithm ed25519 -out "$RELEASE_KEY")
fi
openssl pkey -in "$RELEASE_KEY" -pubout -out "$W/bin/release-key.pem"
echo "$RELEASE" > "$W/bin/release"
log "signet $RELEASE, signetd $(du -m "$W/bin/signetd" | cut -f1) MiB stripped"

# ---- 2. root filesystem from Debian packages
PACKAGES=systemd-sysv,udev,dbus,systemd-resolved,systemd-boot,linux-image-amd64,initramfs-tools
PACKAGES+=,zstd,kmod,e2fsprogs,nftables,libssl3,ca-certificates,hostname
log "mmdebstrap: $PACKAGES"
mmdebstrap --quiet --variant=minbase --mode=root --include="$PACKAGES" \
  --customize-hook="$PWD/image/customize-root.sh \"\$1\" $W/bin" \
  bookworm "$W/rootfs" "$MIRROR"
kver=$(ls "$W/rootfs/usr/lib/modules")
cp "$W/rootfs/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$W/rootfs/boot/initrd.img-$kver" "$out/initrd.img"
log "rootfs $(du -sm "$W/rootfs" | cut -f1) MiB, kernel $kver"

# ---- 3. the read-only root: erofs, lz4hc (/boot is on the ESP instead)
mkfs.erofs -zlz4hc -E force-inode-compact -T 0 --exclude-path=boot "$out/root.erofs" \
  "$W/rootfs" >/dev/null
rm -rf "$W/rootfs"
log "root.erofs $(du -m "$out/root.erofs" | cut -f1) MiB"

# ---- 4. the EFI system partition, built without mounting it
esp_mib=128
esp=$W/parts/esp.img
truncate -s ${esp_mib}M "$esp"
mkfs.vfat -F 32 -n ESP "$esp" >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/slot-a ::/slot-b ::/grub \
  ::/grub/i386-pc ::/signet
mcopy -i "$esp" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$out/vmlinuz" ::/slot-a/vmlinuz
mcopy -i "$esp" "$out/initrd.img" ::/slot-a/initrd.img
# panic=10: a root that cannot be mounted reboots (and so uses up a try) instead of waiting.
cmdline="ro rootfstype=erofs console=tty0 console=ttyS0,115200 quiet panic=10"
# The partitions' GPT UUIDs, new for every build: the boot entries name the root by PARTUUID.
uuid() { cat /proc/sys/kernel/random/uuid; }
uuid_esp=$(uuid) uuid_a=$(uuid) uuid_b=$(uuid) uuid_data=$(uuid)
# No "default" in loader.conf: systemd-boot boots the entry with the highest version that has
# tries left, which is how an update (a higher version with +3 tries) takes over and falls back.
printf 'timeout 0\nconsole-mode keep\n' > "$W/parts/loader.conf"
cat > "$W/parts/slot-a.conf" <<EOF
title Signet $RELEASE (slot A)
sort-key signet
version 1
linux /slot-a/vmlinuz
initrd /slot-a/initrd.img
options root=PARTUUID=$uuid_a $cmdline
EOF
mcopy -i "$esp" "$W/parts/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$W/parts/slot-a.conf" ::/loader/entries/slot-a.conf
# BIOS: GRUB reads the same kernels, and counts the tries of a new slot the way systemd-boot
# does under UEFI, in its environment block /grub/grubenv: signet_slot is the last good slot;
# `signet update apply` sets signet_try (the new slot) and signet_tries=3; each boot of the
# new slot takes a try first, signet-grub-bless keeps it once signetd answers, and with no
# tries left the good slot boots again. GRUB runs from the disk it was loaded from (hd0), and
# names the slot's partition on that disk by its PARTUUID. No menu (timeout 0): it would cost
# a second at every boot, and the fallback needs no one at the console.
cat > "$W/parts/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
load_env signet_slot signet_try signet_tries
set boot_slot="$signet_slot"
if [ -n "$signet_try" ]; then
  if [ "$signet_tries" = 3 ]; then set signet_tries=2; set boot_slot="$signet_try"
  elif [ "$signet_tries" = 2 ]; then set signet_tries=1; set boot_slot="$signet_try"
  elif [ "$signet_tries" = 1 ]; then set signet_tries=0; set boot_slot="$signet_try"
  fi
  save_env signet_tries
fi
if [ "$boot_slot" = b ]; then set root_part=gpt4; else set boot_slot=a; set root_part=gpt3; fi
probe --set=root_uuid --part-uuid (hd0,$root_part)
export boot_slot root_uuid
menuentry "Signet (slot $boot_slot)" {
  linux /slot-$boot_slot/vmlinuz root=PARTUUID=$root_uuid @CMDLINE@
  initrd /slot-$boot_slot/initrd.img
}
EOF
sed -i "s|@CMDLINE@|$cmdline|" "$W/parts/grub.cfg"
grub-editenv "$W/parts/grubenv" create
grub-editenv "$W/parts/grubenv" set signet_slot=a
mcopy -i "$esp" "$W/parts/grubenv" ::/grub/grubenv
mcopy -i "$esp" "$W/parts/grub.cfg" ::/grub/grub.cfg
mcopy -i "$esp" /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst ::/grub/i386-pc/
cat > "$W/parts/README.txt" <<'EOF'
Signet preset folder. Files put here before the first boot configure the node:
  signetd.toml   the node's configuration (first boot only; see docs/configuration.md)
  *.network      systemd-networkd files used instead of DHCP (every boot)
EOF
mcopy -i "$esp" "$W/parts/README.txt" ::/signet/README.txt

# ---- 5. the data partition (small; systemd-repart grows it to the disk at boot)
data_mib=256
mkfs.ext4 -q -L data "$W/parts/data.img" ${data_mib}M

# ---- 6. the GPT disk; each root slot has room for a root twice today's size
MiB=$((1024 * 1024))
root_mib=$((2 * ($(stat -c %s "$out/root.erofs") + MiB - 1) / MiB))
p_esp=2 p_a=$((2 + esp_mib))
p_b=$((p_a + root_mib)) p_data=$((p_a + 2 * root_mib))
disk=$out/signet.raw
truncate -s $((p_data + data_mib + 1))M "$disk"
sfdisk -q "$disk" <<EOF
label: gpt
start=1MiB, size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios
start=${p_esp}MiB, size=${esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$uuid_esp, name=esp
start=${p_a}MiB, size=${root_mib}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$uuid_a, name=root-a
start=${p_b}MiB, size=${root_mib}MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$uuid_b, name=root-b
start=${p_data}MiB, size=${data_mib}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$uuid_data, name=data
EOF
put() { dd if="$1" of="$disk" bs=1M seek="$2" conv=notrunc,sparse status=none; }
put "$esp" $p_esp
put "$out/root.erofs" $p_a
put "$W/parts/data.img" $p_data

# ---- 7. BIOS boot: GRUB's core.img in the BIOS boot partition, boot.img in the MBR.
# This is what grub-bios-setup does; it cannot run here without a mounted /boot.
grub-mkimage -O i386-pc -o "$W/parts/core.img" -p "(hd0,gpt2)/grub" \
  biosdisk part_gpt fat normal linux serial terminal configfile echo test loadenv probe
python3 - "$disk" "$W/parts/core.img" /usr/lib/grub/i386-pc/boot.img 2048 <<'EOF'
import struct, sys
disk, core_path, boot_path, lba = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
core = bytearray(open(core_path, "rb").read())
assert len(core) <= 1024 * 1024, "core.img does not fit the BIOS boot partition"
# diskboot.img (core's first sector) ends with a blocklist: where the rest of core.img starts.
struct.pack_into("<Q", core, 512 - 12, lba + 1)
boot = bytearray(open(boot_path, "rb").read())
struct.pack_into("<Q", boot, 0x5C, lba)   # boot.img: the sector of core.img
boot[0x66:0x68] = b"\x90\x90"             # hard disk: skip the boot drive check
with open(disk, "r+b") as f:
    f.write(boot[:440])                    # keep the disk signature and protective MBR
    f.seek(lba * 512)
    f.write(core)
EOF

# ---- 8. qcow2 for VMs (compressed)
qemu-img convert -f raw -O qcow2 -c "$disk" "$out/signet.qcow2"
echo "$RELEASE" > "$out/release"
rm -rf "$W/parts"
log "done: $(du -m "$disk" | cut -f1) MiB allocated of $(($(stat -c %s "$disk") / MiB)) MiB raw," \
  "qcow2 $(du -m "$out/signet.qcow2" | cut -f1) MiB, in $out"
