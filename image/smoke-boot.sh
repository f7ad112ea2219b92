#!/usr/bin/env bash
# Boot smoke test: the real signetd starts from a cold kernel inside a VM and answers across
# the VM boundary.
#
# A Debian 12 kernel (unpacked from the linux-image package, not installed) boots under qemu
# with a small initramfs: busybox-static as the shell, the virtio modules the kernel needs,
# signetd with the shared libraries ldd names, and a TOML preset that makes it listen on
# 0.0.0.0:9000 (admin API, HTTPS) and run an Inbound SMTP proxy on 0.0.0.0:25. Host loopback
# ports are forwarded to both. The test passes when the admin port answers over HTTPS
# (any HTTP status: TLS and HTTP work) and the SMTP port greets with 220, within
# BOOT_TIMEOUT seconds. It prints the time from starting qemu to both answering.
#
# qemu runs under TCG (software emulation): KVM is not usable on the project's machines
# (spec/5-appliance-image.md, section 1).
#
#   image/smoke-boot.sh                 uses target/debug/signetd (what scripts/test builds)
#   SIGNETD=path image/smoke-boot.sh    any other signetd build (debug or release)
#
# Environment: SIGNETD, BOOT_TIMEOUT (default 120 s), SMOKE_WORK (work folder, default
# <cargo target dir>/smoke-boot; the unpacked kernel is kept there between runs).
# Needs: qemu-system-x86, busybox-static, cpio, kmod (depmod/modprobe), curl, binutils, and
# apt-get download access for the kernel package. scripts/install-peers.sh installs them.
# Exit status: 0 passed, 1 failed, 2 skipped (a tool or the kernel is missing; never in CI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET_DIR=${CARGO_TARGET_DIR:-target}
SIGNETD=${SIGNETD:-$TARGET_DIR/debug/signetd}
WORK=${SMOKE_WORK:-$TARGET_DIR/smoke-boot}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-120}
SMOKE_MODULES="virtio_pci virtio_net virtio_rng"   # the guest's drivers (Debian: modules)
export PATH="$PATH:/usr/sbin:/sbin"

# A missing tool or kernel skips the test on a developer machine, but fails it in CI, where
# install-peers.sh has installed everything.
skip() {
  if [[ ${CI:-} == true ]]; then
    echo "smoke-boot: FAILED: $* (CI must run this test)" >&2
    exit 1
  fi
  echo "smoke-boot: SKIPPED: $*"
  exit 2
}

for tool in qemu-system-x86_64 cpio depmod modprobe curl objcopy; do
  command -v "$tool" >/dev/null 2>&1 ||
    skip "$tool is not installed (scripts/install-peers.sh installs it)"
done
[[ -x /bin/busybox ]] && [[ $'\n'$(/bin/busybox --list 2>/dev/null)$'\n' == *$'\n'ip$'\n'* ]] ||
  skip "busybox-static is not installed (scripts/install-peers.sh installs it)"
[[ -x $SIGNETD ]] || skip "no signetd binary at $SIGNETD (build it first: cargo build --bins)"

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# ---- 1. kernel: the version linux-image-amd64 points to, unpacked into $WORK/kernel-<ver>
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
  awk '/Depends: linux-image-[0-9]/ {print $2; exit}') || true
[[ -n ${kpkg:-} ]] || skip "apt does not know linux-image-amd64 (run apt-get update)"
kver=${kpkg#linux-image-}
kroot=$WORK/kernel-$kver
if [[ ! -e $kroot/boot/vmlinuz-$kver ]]; then
  echo "smoke-boot: fetching $kpkg"
  rm -rf "$WORK"/kernel-* "$WORK"/*.deb "$WORK/unpack"
  (cd "$WORK" && apt-get download "$kpkg" >/dev/null 2>&1) || skip "cannot download $kpkg"
  dpkg-deb -x "$WORK/$kpkg"_*.deb "$WORK/unpack"
  rm -f "$WORK"/*.deb
  depmod -b "$WORK/unpack" "$kver"
  # Keep only what the test uses (vmlinuz, the module index, the virtio modules): the whole
  # package unpacks to 400 MiB.
  mkdir -p "$kroot.new/boot"
  cp "$WORK/unpack/boot/vmlinuz-$kver" "$kroot.new/boot/"
  (cd "$WORK/unpack" && cp --parents lib/modules/"$kver"/modules.* "$kroot.new/" &&
    modprobe -d "$PWD" -S "$kver" -a --show-depends $SMOKE_MODULES |
    awk '$1 == "insmod" && !seen[$2]++ {print $2}' | sed "s|^$PWD/||" |
    xargs cp --parents -t "$kroot.new/")
  rm -rf "$WORK/unpack"
  mv "$kroot.new" "$kroot"
fi

# ---- 2. initramfs
root=$WORK/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,run,etc/signet,var/lib/signet,lib/modules}

cp /bin/busybox "$root/bin/busybox"
for applet in sh mount ip insmod cat cut sleep hostname reboot; do ln -s busybox "$root/bin/$applet"; done

# Debian builds virtio, virtio-net and virtio-rng as modules: load them in dependency order
# (modprobe -a resolves all names, not only the first). The rng feeds the guest's entropy
# pool, so that signetd's key generation never waits for it.
modprobe -d "$kroot" -S "$kver" -a --show-depends $SMOKE_MODULES |
  awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' > "$WORK/modules.list"
while read -r ko; do
  cp "$ko" "$root/lib/modules/"
  basename "$ko" .ko >> "$root/lib/modules/order"
done < "$WORK/modules.list"

# signetd as built (dynamically linked), stripped of debug info and symbols (a debug build
# shrinks several times), plus every library ldd names (for busybox too, in case it is not
# the static build) at the same path as on the host.
objcopy --strip-all "$SIGNETD" "$root/sbin/signetd"
signetd_mib=$(du -m "$root/sbin/signetd" | cut -f1)
{ ldd "$SIGNETD"; ldd /bin/busybox 2>/dev/null || true; } |
  awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# qemu's user network: its DNS server (signetd reads the resolver configuration at start).
echo "nameserver 10.0.2.3" > "$root/etc/resolv.conf"
printf '127.0.0.1 localhost\n10.0.2.15 smoke\n' > "$root/etc/hosts"

# The preset: standard appliance ports, data in the initramfs (a RAM filesystem).
cat > "$root/etc/signet/signetd.toml" <<'EOF'
data_dir = "/var/lib/signet"

[listen]
admin = "0.0.0.0:9000"
cluster = "0.0.0.0:444"

[advertise]
admin = "10.0.2.15:9000"
cluster = "10.0.2.15:444"

[mail]
hostname = "smoke.signet.test"

[[mail.proxy]]
kind = "inbound"
listen = "0.0.0.0:25"
EOF

cat > "$root/init" <<'EOF'
#!/bin/sh
# PID 1 of the smoke-test guest: mount the API filesystems, load the virtio modules,
# configure qemu's user network statically, run signetd in the foreground.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko; done
hostname smoke
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "smoke-boot: guest starting signetd at uptime $(cut -d' ' -f1 /proc/uptime) s"
/sbin/signetd --config /etc/signet/signetd.toml
echo "smoke-boot: signetd exited with status $?"
reboot -f    # qemu runs with -no-reboot: this ends the VM, and the test at once
EOF
chmod 0755 "$root/init"

# Not compressed: unpacking gzip under software emulation cost more (20.9 s vs 14–17 s to
# answer) than loading the larger file.
(cd "$root" && find . | cpio -o -H newc --quiet) > "$WORK/initrd.img"
rm -rf "$root"
echo "smoke-boot: kernel $kver, initrd $(du -m "$WORK/initrd.img" | cut -f1) MiB," \
  "signetd $signetd_mib MiB stripped (from $SIGNETD)"

# ---- 3. boot, and wait for both ports to answer
source image/lib/probe.sh
admin_port=$(free_port)
smtp_port=$(free_port)
while [[ $smtp_port == "$admin_port" ]]; do smtp_port=$(free_port); done
log=$WORK/serial.log
trap stop_qemu EXIT
start_qemu "$log" "$admin_port" "$smtp_port" -m 1024 -smp 2 \
  -kernel "$kroot/boot/vmlinuz-$kver" -initrd "$WORK/initrd.img" \
  -append "console=ttyS0 quiet panic=-1" -device virtio-rng-pci

if wait_answers "$admin_port" "$smtp_port" "$BOOT_TIMEOUT"; then
  echo "smoke-boot: admin HTTPS answered (HTTP $probe_http) after $probe_admin_at s," \
    "SMTP greeted after $probe_smtp_at s: $probe_greeting"
  grep -a 'smoke-boot: guest' "$log" || true
  echo "smoke-boot: 1 passed, 0 failed"
  exit 0
fi
echo "smoke-boot: no answer within $BOOT_TIMEOUT s" \
  "(admin: ${probe_admin_at:-none}, smtp: ${probe_smtp_at:-none})"
echo "---- last lines of the guest's serial console ($log):"
tail -n 40 "$log"
echo "smoke-boot: 0 passed, 1 failed"
exit 1
