#!/usr/bin/env bash
# Boots the full appliance disk image (image/build.sh) under UEFI (OVMF, systemd-boot) and
# BIOS (SeaBIOS, GRUB) and checks that signetd answers: admin HTTPS on 9000 and the SMTP
# greeting on 25, forwarded to host loopback ports. Prints the time from starting qemu to
# both answering, and the first-boot banner (admin URL, certificate fingerprint).
#
#   image/boot-test.sh [IMAGE] [uefi|bios ...]     default $IMAGE_WORK/out/signet.raw, both
#
# The image is not changed: each boot writes to a qcow2 overlay that is 2 GiB larger, so the
# first boot also grows the data partition (systemd-repart) the way a real disk would.
# qemu runs under TCG (software emulation): KVM is not usable on the project's machines.
# Environment: BOOT_TIMEOUT (default 300 s), IMAGE_WORK.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source image/lib/probe.sh

W=${IMAGE_WORK:-${CARGO_TARGET_DIR:-target}/image}
image=${1:-$W/out/signet.raw}
shift || true
modes=("$@")
((${#modes[@]})) || modes=(uefi bios)
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
[[ -e $image ]] || { echo "boot-test: no image at $image (image/build.sh)" >&2; exit 1; }
image=$(realpath "$image")
run=$W/boot-test
mkdir -p "$run"
trap stop_qemu EXIT

passed=0 failed=0
for mode in "${modes[@]}"; do
  disk=$run/$mode.qcow2
  rm -f "$disk"
  qemu-img create -q -f qcow2 -b "$image" -F raw "$disk" \
    $(($(stat -c %s "$image") + 2 * 1024 * 1024 * 1024))
  args=(-m 1024 -smp 2 -drive "file=$disk,format=qcow2,if=virtio" -device virtio-rng-pci)
  case $mode in
    uefi)
      cp "$OVMF_VARS" "$run/vars.fd"
      args+=(-machine q35
        -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE"
        -drive "if=pflash,format=raw,file=$run/vars.fd") ;;
    bios) args+=(-machine pc) ;;
    *) echo "boot-test: unknown mode $mode" >&2; exit 2 ;;
  esac
  admin=$(free_port) smtp=$(free_port)
  log=$run/$mode-serial.log
  start_qemu "$log" "$admin" "$smtp" "${args[@]}"
  if wait_answers "$admin" "$smtp" "$BOOT_TIMEOUT"; then
    echo "boot-test: $mode: admin HTTPS answered (HTTP $probe_http) after $probe_admin_at s," \
      "SMTP greeted after $probe_smtp_at s: $probe_greeting"
    # The banner comes a moment after the ports answer.
    for _ in $(seq 30); do grep -aq 'fingerprint' "$log" && break; sleep 1; done
    grep -a -A2 'Admin UI and API' "$log" | sed 's/^/    /' || true
    passed=$((passed + 1))
  else
    echo "boot-test: $mode: no answer within $BOOT_TIMEOUT s" \
      "(admin: ${probe_admin_at:-none}, smtp: ${probe_smtp_at:-none}); last console lines:"
    tail -n 30 "$log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
  stop_qemu
done
echo "boot-test: $passed passed, $failed failed"
((failed == 0))
