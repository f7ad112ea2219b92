# Helpers for the qemu boot tests (sourced by smoke-boot.sh and boot-test.sh).
#
# slirp (qemu's user network) accepts a forwarded connection before the guest listens, so a
# TCP connect proves nothing: the probes wait for a TLS handshake with an HTTP status on the
# admin port and for a real "220" greeting on the SMTP port.

# A free loopback port for a forward: a random high port nothing answers on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# Seconds (one decimal) since $probe_t0 (set by start_qemu).
elapsed() { awk -v a="$(date +%s.%N)" -v b="$probe_t0" 'BEGIN {printf "%.1f", a - b}'; }

# start_qemu LOG ADMIN_PORT SMTP_PORT QEMU_ARGS...: qemu under TCG (KVM is not usable on the
# project's machines) in the background, serial console to LOG; sets probe_qpid, probe_t0.
start_qemu() {
  local log=$1 admin=$2 smtp=$3
  shift 3
  probe_t0=$(date +%s.%N)
  qemu-system-x86_64 -accel tcg -nographic -vga none -no-reboot "$@" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$admin-:9000,hostfwd=tcp:127.0.0.1:$smtp-:25" \
    -device virtio-net-pci,netdev=n0 </dev/null >"$log" 2>&1 &
  probe_qpid=$!
}

stop_qemu() {
  [[ -n ${probe_qpid:-} ]] || return 0
  kill "$probe_qpid" 2>/dev/null || true
  wait "$probe_qpid" 2>/dev/null || true
  probe_qpid=
}

# wait_answers ADMIN_PORT SMTP_PORT TIMEOUT: polls both until they answer, qemu exits or
# TIMEOUT seconds pass since start_qemu. Sets probe_admin_at, probe_smtp_at (seconds, empty
# when not answered), probe_http (status) and probe_greeting; returns 0 when both answered.
wait_answers() {
  local admin=$1 smtp=$2 timeout=$3 code
  probe_admin_at="" probe_smtp_at="" probe_greeting="" probe_http=""
  while [[ -z $probe_admin_at || -z $probe_smtp_at ]]; do
    kill -0 "$probe_qpid" 2>/dev/null || return 1
    (($(printf '%.0f' "$(elapsed)") > timeout)) && return 1
    if [[ -z $probe_admin_at ]]; then
      code=$(curl -k -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "https://127.0.0.1:$admin/" 2>/dev/null) || true
      if [[ ${code:-000} != 000 ]]; then probe_admin_at=$(elapsed) probe_http=$code; fi
    fi
    if [[ -z $probe_smtp_at ]]; then
      probe_greeting=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        read -r -t 2 l <&3 && printf "QUIT\r\n" >&3 && echo "$l"' _ "$smtp" 2>/dev/null) || true
      probe_greeting=${probe_greeting%$'\r'}
      [[ $probe_greeting == 220* ]] && probe_smtp_at=$(elapsed)
    fi
    sleep 0.3
  done
}
