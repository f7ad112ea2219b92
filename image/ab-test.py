#!/usr/bin/env python3
"""A/B update demonstration on the full image with qemu TCG, under UEFI (OVMF + systemd-boot)
or BIOS (SeaBIOS + GRUB).

    image/ab-test.py [IMAGE_WORK] [uefi|bios]   (default $IMAGE_WORK or target/image, uefi)

Steps, each checked on the guest's serial console (root logs in there with a password the
test puts in the preset folder, signet/root-password, as an administrator would):
  1. boot slot A; signetd answers; write data (a managed domain);
  2. an unsigned update and one signed by a foreign key are refused, nothing written;
  3. apply a good update (same system, new release name) -> reboot -> slot B answers, the
     domain is still there, and the slot is kept (UEFI: slot-b.conf, no counter left;
     BIOS: signet_slot=b in GRUB's environment block, no try pending);
  4. apply a broken update (a root that cannot be mounted) into slot A -> it is tried 3
     times -> the loader falls back to slot B by itself, which answers with the data.
The disk image is not changed: the guest writes to a copy. Takes several minutes.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.environ.get(
    "IMAGE_WORK", os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "image")))
OUT = os.path.join(WORK, "out")
MODE = sys.argv[2] if len(sys.argv) > 2 else "uefi"
RUN = os.path.join(WORK, "ab-test-" + MODE)
T0 = time.time()
# The console password of the test (its hash goes into the copy's preset folder).
PASSWORD = "ab-test-console"


def say(msg):
    print(f"ab-test: [{time.time() - T0:6.1f} s] {msg}", flush=True)


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def make_update(name, release, root_file, key):
    """A signed update file from out/ with another release name (and maybe another root)."""
    d = os.path.join(RUN, name)
    os.makedirs(d, exist_ok=True)
    for f in ("vmlinuz", "initrd.img"):
        shutil.copy(os.path.join(OUT, f), d)
    shutil.copy(root_file, os.path.join(d, "root.erofs"))
    with open(os.path.join(d, "release"), "w") as f:
        f.write(release + "\n")
    update = os.path.join(RUN, name + ".update")
    sh(os.path.join(ROOT, "image/make-update.sh"), d, update,
       env={**os.environ, "RELEASE_KEY": key}, stdout=subprocess.DEVNULL)
    return update


class Guest:
    """qemu with the serial console on a unix socket; everything it prints goes to a log."""

    def __init__(self, disk, updates, mode="uefi"):
        self.sock_path = os.path.join(RUN, "console.sock")
        self.log = open(os.path.join(RUN, "console.log"), "ab")
        self.buf = b""
        args = ["qemu-system-x86_64", "-accel", "tcg", "-m", "1024",
                "-smp", "2", "-display", "none", "-monitor", "none", "-vga", "none"]
        if mode == "uefi":
            vars_fd = os.path.join(RUN, "vars.fd")
            shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", vars_fd)
            args += ["-machine", "q35", "-drive",
                     "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                     "-drive", f"if=pflash,format=raw,file={vars_fd}"]
        else:
            args += ["-machine", "pc"]
        args += ["-drive", f"file={disk},format=qcow2,if=virtio",
                "-device", "virtio-rng-pci", "-nic", "user,model=virtio-net-pci",
                "-chardev", f"socket,id=c0,path={self.sock_path},server=on,wait=on",
                "-serial", "chardev:c0"]
        # The update files reach the guest as extra read-only disks (vdb, vdc, ...).
        for u in updates:
            args += ["-drive", f"file={u},format=raw,if=virtio,readonly=on"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(self.sock_path):
                break
            time.sleep(0.1)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.sock_path)

    def expect(self, pattern, timeout):
        """Reads the console until the regex matches; returns the match."""
        rx = re.compile(pattern.encode())
        end = time.time() + timeout
        while time.time() < end:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            self.sock.settimeout(max(0.1, min(1.0, end - time.time())))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            self.log.write(data)
            self.log.flush()
            self.buf += data
        raise SystemExit(f"ab-test: FAILED: no {pattern!r} on the console within {timeout} s "
                         f"(log: {self.log.name})")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r")

    def run(self, cmd, timeout=120):
        """Runs a shell command on the console; returns (status, output)."""
        tag = f"@@{int(time.time() * 1000) % 1000000}@@"
        self.buf = b""
        self.send(f"{cmd}; echo \"{tag}$?{tag}\"")
        m = self.expect(re.escape(tag) + r"(\d+)" + re.escape(tag), timeout)
        # Leave out the shell's "# " prompts that come before the output.
        out = re.sub(r"(?m)^(# )+", "", self.buf_before(m))
        return int(m.group(1)), out

    def buf_before(self, m):
        return m.string[:m.start()].decode(errors="replace")

    def login(self, timeout=400):
        self.expect(r"signet login: ", timeout)
        self.send("root")
        self.expect(r"Password: ", 60)
        self.send(PASSWORD)
        self.expect(r"# ", 60)
        self.send("stty -echo; export PS1='# ' TERM=dumb")
        time.sleep(1)

    def wait_healthy(self, timeout=300):
        st, _ = self.run(f"/usr/libexec/signet/health-check >/dev/null", timeout)
        if st != 0:
            raise SystemExit("ab-test: FAILED: signetd does not answer")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def main():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    key = os.path.join(WORK, "keys", "release.pem")
    foreign = os.path.join(RUN, "foreign.pem")
    sh("openssl", "genpkey", "-algorithm", "ed25519", "-out", foreign)
    release = open(os.path.join(OUT, "release")).read().strip()
    good = make_update("good", release + "-update", os.path.join(OUT, "root.erofs"), key)
    broken_root = os.path.join(RUN, "broken.erofs")
    with open(broken_root, "wb") as f:
        f.write(os.urandom(1 << 20))
    broken = make_update("broken", release + "-broken", broken_root, key)
    foreign_update = make_update("foreign", release + "-foreign",
                                 os.path.join(OUT, "root.erofs"), foreign)
    unsigned = os.path.join(RUN, "unsigned.update")
    with open(good, "rb") as src, open(unsigned, "wb") as dst:
        lines = [src.readline() for _ in range(3)]
        dst.write(lines[0] + lines[1] + src.read())      # the signature line left out
    updates = [good, broken, foreign_update, unsigned]
    sizes = [os.path.getsize(u) for u in updates]
    # A copy of the image with the console password in its preset folder (the ESP starts at
    # 2 MiB; mtools writes the FAT without mounting it), and a growable overlay on it.
    raw = os.path.join(RUN, "signet.raw")
    sh("cp", "--sparse=always", os.path.join(OUT, "signet.raw"), raw)
    pw_hash = os.path.join(RUN, "root-password")
    with open(pw_hash, "wb") as f:
        f.write(sh("openssl", "passwd", "-6", PASSWORD, capture_output=True).stdout)
    sh("mcopy", "-i", raw + "@@2M", pw_hash, "::/signet/root-password",
       env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    disk = os.path.join(RUN, "disk.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", raw, "-F", "raw", disk, "4G")
    slot = "echo slot=$(/usr/libexec/signet/running-slot); grep -o 'root=PARTUUID=' /proc/cmdline"
    blessed = "ls /efi/loader/entries" if MODE == "uefi" else "grep signet_ /efi/grub/grubenv"

    g = Guest(disk, updates, MODE)
    try:
        say(f"boot 1 ({MODE}): slot A")
        g.login()
        g.wait_healthy()
        st, out = g.run(slot)
        assert "slot=a" in out and "root=PARTUUID=" in out, out
        st, out = g.run("signet setup --domain ab-test.example >/dev/null 2>&1; "
                        "signet domain list", 600)
        assert "ab-test.example" in out, out
        say("slot A answers; domain ab-test.example written")
        # Copy the update files out of their disks (a disk is longer than the file).
        for i, size in enumerate(sizes):
            dev = "/dev/vd" + "bcde"[i]
            st, _ = g.run(f"head -c {size} {dev} > /var/tmp/u{i}.update")
            assert st == 0
        for i, what in ((2, "foreign"), (3, "unsigned")):
            st, out = g.run(f"signet update apply /var/tmp/u{i}.update 2>&1; "
                            "ls /efi/loader/entries")
            assert "refused" in out or "unsigned" in out, out
            assert "slot-b" not in out, out
            say(f"{what} update refused before writing: "
                f"{[l for l in out.splitlines() if 'signet' in l][:1]}")
        st, out = g.run("signet update apply /var/tmp/u0.update 2>&1; ls /efi/loader/entries",
                        300)
        assert "slot-b+3.conf" in out, out
        st, out = g.run("grep signet_ /efi/grub/grubenv")
        assert "signet_try=b" in out and "signet_tries=3" in out, out
        say("good update written to slot B; rebooting")
        g.send("systemctl reboot")

        say("boot 2: the new slot")
        g.login()
        g.wait_healthy()
        st, out = g.run(slot + "; signet domain list")
        assert "slot=b" in out and "ab-test.example" in out, out
        kept = "slot-b.conf" if MODE == "uefi" else "signet_slot=b"
        for _ in range(60):
            st, out = g.run(blessed)
            if kept in out and "signet_try" not in out:
                break
            time.sleep(2)
        assert kept in out and "signet_try" not in out, out
        say(f"slot B answers with the data kept; slot kept: {out.split()}")

        st, out = g.run("signet update apply /var/tmp/u1.update 2>&1; ls /efi/loader/entries",
                        300)
        assert "slot-a+3.conf" in out, out
        say("broken update written to slot A; rebooting (3 failing tries expected)")
        g.send("systemctl reboot")
        g.login(timeout=900)
        g.wait_healthy()
        st, out = g.run(slot + "; signet domain list; " + blessed)
        assert "slot=b" in out and "ab-test.example" in out, out
        if MODE == "uefi":
            assert "slot-a+0-3.conf" in out, out
        else:
            assert "signet_slot=b" in out and "signet_tries=0" in out, out
        tries = len(re.findall(rb"Rebooting automatically", open(g.log.name, "rb").read()))
        say(f"fell back to slot B after {tries} failed boots of A; "
            f"{[l for l in out.split() if l.endswith('.conf') or 'signet_' in l]}")
        say("1 passed, 0 failed")
    finally:
        g.stop()


if __name__ == "__main__":
    main()
