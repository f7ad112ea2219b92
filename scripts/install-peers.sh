#!/usr/bin/env bash
# Install the real programs Signet's tests talk to, from Debian 12 packages.
#
# The tests use the peers a mail administrator has (DESIGN.md: "no mock stands where the real
# program can run"), so CI and every developer machine need them. Machines are not kept
# between sessions, so this script, not a manual step, is the source of truth.
#
# Idempotent: when every wanted program is already present, apt is not touched at all (no
# network, no lock, a few milliseconds). Otherwise only the missing packages are installed.
set -euo pipefail

# Root's sbin holds slapd, postfix and dovecot; a non-login shell may lack it in PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# "check|package": check is a command name or an absolute path that the package provides.
WANTED=(
  "gpg|gnupg"
  "dirmngr|dirmngr"                         # gpg's keyserver client (HKP and LDAP lookups)
  "/usr/lib/gnupg/gpg-wks-client|gpg-wks-client"  # prints WKD URLs (keyserver_http tests)
  "sq|sq"                                   # Sequoia's CLI: a second OpenPGP implementation
  "openssl|openssl"                         # reads our S/MIME (cms) output
  "swaks|swaks"                             # SMTP client used to submit test mail
  "ldapsearch|ldap-utils"
  "/usr/sbin/slapd|slapd"                   # directory sync source; tests run it by hand
  "/usr/sbin/postfix|postfix"               # MTA peer, plus smtp-source/smtp-sink
  "/usr/sbin/dovecot|dovecot-core"
  "/usr/lib/dovecot/imap|dovecot-imapd"     # IMAP server behind the mailbox proxy
  "pkg-config|pkg-config"                   # build: openssl-sys finds libssl through it
  "/usr/include/openssl/ssl.h|libssl-dev"   # build: sequoia's crypto-openssl backend
  "/usr/lib/llvm-14/lib/libclang.so|libclang-dev"  # build: sequoia's openssl backend runs
                                            #   bindgen over openssl-sys (ossl >= 1.5.3)
  "cc|gcc"                                  # build: C parts of aws-lc/openssl-sys, and the
  "/usr/include/stdio.h|libc6-dev"          #   linker driver (both come with Rust normally)
  "qemu-system-x86_64|qemu-system-x86"      # image/smoke-boot.sh: boots signetd in a VM
  "/bin/busybox|busybox-static"             #   the smoke guest's shell and tools
  "cpio|cpio"                               #   packs its initramfs
  "depmod|kmod"                             #   resolves the kernel's module order
  "curl|curl"                               #   asks the guest's admin port
  "objcopy|binutils"                        #   strips signetd for the initramfs
  "make|make"                               # buildroot/check.sh: parses external.mk
  "/usr/lib/python3/dist-packages/kconfiglib.py|python3-kconfiglib"  #   and the Kconfig files
  "/usr/bin/chromium|chromium"              # admin-UI browser tests (tests/browser), driven by
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf|fonts-dejavu-core"  # playwright-core;
  "node|nodejs"                             #   fonts make screenshots legible
  "npm|npm"
)

have() { if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null 2>&1; fi; }

missing=()
for entry in "${WANTED[@]}"; do
  have "${entry%%|*}" || missing+=("${entry#*|}")
done

# The browser tests' driver (playwright-core, pinned in tests/browser/package-lock.json). It
# never downloads a browser: the scripts launch Debian's /usr/bin/chromium.
browser_driver() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
  if [[ -f $dir/package-lock.json && ! -d $dir/node_modules ]]; then
    echo "install-peers: npm ci in tests/browser"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
}

if ((${#missing[@]} == 0)); then
  echo "install-peers: all peers present, nothing to do"
  browser_driver
  exit 0
fi
# Debian 12's qemu-system-x86 (7.2) breaks the newer qemu-utils some machines ship from
# backports, and apt then removes qemu-img or gives up: install the matching qemu-utils with it.
if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]]; then missing+=("qemu-utils/bookworm"); fi
echo "install-peers: installing: ${missing[*]}"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-peers: need root or sudo" >&2; exit 1; }
  SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades) instead of failing at once.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)

# The tests start slapd, postfix and dovecot themselves, on high ports with their own config.
# Their postinst scripts must not start system services (there may be no init; port 25 may be
# taken): a policy-rc.d that exits 101 makes invoke-rc.d/deb-systemd-invoke skip starts.
# Any other policy-rc.d is kept aside and put back on exit; ours carries a marker so that one
# left behind by a killed run is not mistaken for the machine's own.
POLICY=/usr/sbin/policy-rc.d
MARK="installed by signet scripts/install-peers.sh"
BACKUP="$POLICY.signet-saved"
restore_policy() {
  "${SUDO[@]}" rm -f "$POLICY"
  if [[ -e $BACKUP ]]; then "${SUDO[@]}" mv -f "$BACKUP" "$POLICY"; fi
}
if [[ -e $POLICY ]] && ! grep -qF "$MARK" "$POLICY"; then
  "${SUDO[@]}" mv -f "$POLICY" "$BACKUP"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# %s while it runs\nexit 101\n' "$MARK" | "${SUDO[@]}" tee "$POLICY" >/dev/null
"${SUDO[@]}" chmod 0755 "$POLICY"

# Answer the questions postfix and slapd would ask. "Local only" gives a loopback-only
# main.cf; slapd gets no system database, since the tests run slapd with their own -F config.
"${SUDO[@]}" debconf-set-selections <<'SEL'
postfix postfix/main_mailer_type select Local only
slapd slapd/no_configuration boolean true
SEL

# A fresh machine has no package lists; mirrors occasionally fail once, so retry one time.
if ! "${APT[@]}" update; then
  echo "install-peers: apt-get update failed, retrying in 10 s" >&2
  sleep 10
  "${APT[@]}" update
fi

# --force-confold: never stop to ask about a config file changed by an earlier run.
"${APT[@]}" install --no-install-recommends --allow-downgrades \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# Check what was asked for is really there now, so a failure points here and not at a test.
still=()
for entry in "${WANTED[@]}"; do
  have "${entry%%|*}" || still+=("${entry%%|*}")
done
if ((${#still[@]})); then
  echo "install-peers: still missing after install: ${still[*]}" >&2
  exit 1
fi
browser_driver
echo "install-peers: done"
