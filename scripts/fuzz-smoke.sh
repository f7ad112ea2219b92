#!/usr/bin/env bash
# A short fuzz run for CI: builds every cargo-fuzz target (fuzz/, its own workspace) and runs
# each target that reads bytes from the network or from an upload for a few seconds, starting
# from the seeds fuzz/seeds/make_seeds.sh writes. A crash fails the run and leaves the input in
# fuzz/artifacts/<target>/ (replay: see fuzz/README.md). Long runs are done by hand, not here.
#
#   scripts/fuzz-smoke.sh              every target below, FUZZ_SECONDS (default 15) each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh smtp_session mail_facts
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes nightly-only flags
# to rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them (fuzz/README.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-15}
# The SMTP command parser and session, the message transforms (facts, MIME split, PGP/MIME and
# S/MIME opening), and the public keyserver's parsers (LDAP, HKP/WKD, Verified Directory).
targets=("$@")
((${#targets[@]})) || targets=(smtp_session smtp_auth mail_facts mime_split pgpmime_open smime_open
                               ldap_request hkp_query vd_submission)

start=$SECONDS
echo "fuzz-smoke: building the fuzz targets (the first build takes several minutes)"
cargo fuzz build
bin=target/$(rustc -vV | sed -n 's/^host: //p')/release
if command -v gpg >/dev/null && command -v openssl >/dev/null; then
  sh seeds/make_seeds.sh >/dev/null 2>&1 || echo "fuzz-smoke: seeds not written; starting from empty corpora"
fi
n=0
for t in "${targets[@]}"; do
  n=$((n + 1))
  mkdir -p "corpus/$t"
  echo "fuzz-smoke: [$n/${#targets[@]}] $t for ${seconds} s"
  # -rss_limit_mb: the crypto targets hold keys made at start-up; 2 GiB is far above them.
  # The built binary itself: `cargo fuzz run` would first rebuild after any source change.
  if ! "$bin/$t" "corpus/$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
       -print_final_stats=1 2>"corpus/$t.log"; then
    tail -n 40 "corpus/$t.log"
    echo "fuzz-smoke: FAILED: $t (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "corpus/$t.log" | sed "s/^/  $t /" || true
done
echo "fuzz-smoke: ${#targets[@]} targets, no crash, $((SECONDS - start)) s"
