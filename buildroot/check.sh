#!/usr/bin/env bash
# Checks what can be checked of the BR2_EXTERNAL tree without Buildroot (which cannot be
# downloaded on the project's machines, see README.md):
#   1. Config.in files parse as Kconfig (kconfiglib) and the defconfig enables the package;
#   2. external.mk and the package .mk parse as make, with cargo-package stubbed;
#   3. the defconfig's overlay resolves to image/overlay, the overlay the image tests boot,
#      and this tree holds no copy of it; the shell scripts parse.
# Missing kconfiglib skips step 1 locally (never in CI, where install-peers.sh adds it).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
defconfig=$here/configs/signet_x86_64_defconfig
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "buildroot-check: FAILED: $*" >&2; exit 1; }

# 1. Kconfig: a stub top level stands in for Buildroot's symbols that ours use.
grep -q '^name: SIGNET$' "$here/external.desc" || fail "external.desc does not name SIGNET"
if /usr/bin/python3 -c 'import kconfiglib' 2>/dev/null; then
  cat > "$tmp/Config.in" <<'EOK'
mainmenu "stub of Buildroot's top level"
config BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS
	def_bool y
config BR2_PACKAGE_HOST_RUSTC
	bool
config BR2_INIT_SYSTEMD
	bool "systemd"
config BR2_PACKAGE_OPENSSL
	bool
config BR2_PACKAGE_NFTABLES
	bool
source "$BR2_EXTERNAL_SIGNET_PATH/Config.in"
EOK
  # Buildroot's symbols carry no CONFIG_ prefix. Symbols of real Buildroot that the stub
  # lacks are reported as warnings by kconfiglib and are not errors here.
  out=$(cd "$tmp" && CONFIG_= BR2_EXTERNAL_SIGNET_PATH=$here /usr/bin/python3 - "$defconfig" <<'EOP'
import sys, kconfiglib
k = kconfiglib.Kconfig("Config.in", warn_to_stderr=False)
k.load_config(sys.argv[1])
for name in ("BR2_PACKAGE_SIGNET", "BR2_PACKAGE_HOST_RUSTC", "BR2_INIT_SYSTEMD"):
    print(name, k.syms[name].str_value)
EOP
) || fail "Kconfig does not parse"
  echo "$out" | sed 's/^/buildroot-check: kconfig: /'
  grep -qx 'BR2_PACKAGE_SIGNET y' <<<"$out" || fail "the defconfig does not enable signet"
  grep -qx 'BR2_PACKAGE_HOST_RUSTC y' <<<"$out" || fail "signet does not select host-rustc"
elif [[ ${CI:-} == true ]]; then
  fail "python3-kconfiglib is missing (scripts/install-peers.sh installs it)"
else
  echo "buildroot-check: kconfig: SKIPPED (no python3-kconfiglib)"
fi

# 2. make: include external.mk as Buildroot would, with the package infrastructure stubbed.
out=$(make -s --no-print-directory -f - BR2_EXTERNAL_SIGNET_PATH="$here" <<'EOM'
pkgname = $(lastword $(subst /, ,$(dir $(lastword $(MAKEFILE_LIST)))))
cargo-package = $(info cargo-package $(pkgname): SITE=$(SIGNET_SITE) METHOD=$(SIGNET_SITE_METHOD) SUBDIR=$(SIGNET_SUBDIR))
include $(BR2_EXTERNAL_SIGNET_PATH)/external.mk
all: ;
EOM
) || fail "external.mk does not parse"
echo "buildroot-check: make: $out"
[[ $out == "cargo-package signet: SITE=$here/.. METHOD=local SUBDIR=appliance" ]] ||
  fail "unexpected package definition: $out"
[[ -e $here/../Cargo.lock ]] || fail "no Cargo.lock at the package's site"

# 3. The overlay is image/overlay itself, and the scripts parse.
overlay=$(sed -n 's/^BR2_ROOTFS_OVERLAY="\(.*\)"$/\1/p' "$defconfig")
overlay=${overlay//\$(BR2_EXTERNAL_SIGNET_PATH)/$here}
[[ -d $overlay ]] || fail "BR2_ROOTFS_OVERLAY $overlay does not exist"
[[ $(realpath "$overlay") == $(realpath "$here/../image/overlay") ]] ||
  fail "BR2_ROOTFS_OVERLAY is not image/overlay"
[[ -e $overlay/etc/systemd/system/signetd.service ]] || fail "the overlay has no signetd.service"
if find "$here" -name signetd.service | grep -q .; then fail "buildroot/ holds a copy of the overlay"; fi
sh -n "$here/board/signet/post-image.sh" || fail "post-image.sh does not parse"
echo "buildroot-check: overlay: $(realpath "$overlay") (the one image/ builds and boots)"
echo "buildroot-check: ok"
