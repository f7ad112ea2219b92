#!/usr/bin/env bash
# Makes a signed appliance update file from an image build (image/build.sh's out/ folder):
# the kernel, the initrd and the erofs root, with a manifest signed by the release key.
#
#   image/make-update.sh [OUT_DIR [UPDATE_FILE]]
#       OUT_DIR       default $IMAGE_WORK/out (IMAGE_WORK as in build.sh)
#       UPDATE_FILE   default OUT_DIR/signet-<release>.update
#   RELEASE_KEY=key.pem   the ed25519 private key (default $IMAGE_WORK/keys/release.pem,
#                         the one build.sh made or used)
#
# File format (read by `signet update verify|apply`, appliance/src/update_cli.rs):
#   line 1  "signet-update 1"
#   line 2  the manifest, one line of JSON: release, and name/size/sha256 of each file
#   line 3  base64 of the Ed25519 signature over lines 1 and 2 (newlines included)
#   then    the files' bytes, in the manifest's order
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

W=${IMAGE_WORK:-${CARGO_TARGET_DIR:-target}/image}
out=${1:-$W/out}
RELEASE_KEY=${RELEASE_KEY:-$W/keys/release.pem}
release=$(cat "$out/release")
update=${2:-$out/signet-$release.update}
files=(vmlinuz initrd.img root.erofs)

[[ -e $RELEASE_KEY ]] || { echo "make-update: no release key at $RELEASE_KEY" >&2; exit 1; }

entries=()
for f in "${files[@]}"; do
  size=$(stat -c %s "$out/$f")
  sum=$(sha256sum "$out/$f" | cut -d' ' -f1)
  entries+=("{\"name\":\"$f\",\"size\":$size,\"sha256\":\"$sum\"}")
done
manifest="{\"release\":\"$release\",\"files\":[$(IFS=,; echo "${entries[*]}")]}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'signet-update 1\n%s\n' "$manifest" > "$tmp/head"
openssl pkeyutl -sign -inkey "$RELEASE_KEY" -rawin -in "$tmp/head" -out "$tmp/sig"
{
  cat "$tmp/head"
  base64 -w0 "$tmp/sig"
  echo
  for f in "${files[@]}"; do cat "$out/$f"; done
} > "$update.tmp"
mv "$update.tmp" "$update"
echo "make-update: $update ($(du -m "$update" | cut -f1) MiB), release $release"
