#!/usr/bin/env python3
"""A/B update demonstration on the full image, under UEFI (OVMF + systemd-boot), with qemu TCG.

    image/ab-test.py [IMAGE_WORK]      (default $IMAGE_WORK or target/image; after build.sh)

Steps, each checked on the guest's serial console (root logs in there without a password):
  1. boot slot A; signetd answers; write data (a managed domain);
  2. an unsigned update and one signed by a foreign key are refused, nothing written;
  3. apply a good update (same system, new release name) -> reboot -> slot B answers, the
     domain is still there, and the entry is blessed (slot-b.conf, no counter left);
  4. apply a broken update (a root that cannot be mounted) into slot A -> it is tried 3
     times -> systemd-boot falls back to slot B by itself, which answers with the data.
The disk image is not changed: the guest writes to a qcow2 overlay. Takes several minutes.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "IMAGE_WORK", os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "image")))
OUT = os.path.join(WORK, "out")
RUN = os.path.join(WORK, "ab-test")
T0 = time.time()


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

    def __init__(self, disk, updates):
        self.sock_path = os.path.join(RUN, "console.sock")
        self.log = open(os.path.join(RUN, "console.log"), "ab")
        self.buf = b""
        vars_fd = os.path.join(RUN, "vars.fd")
        shutil.copy("/usr/share/OVMF/OVMF_VARS_4M.fd", vars_fd)
        args = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "1024",
                "-smp", "2", "-display", "none", "-monitor", "none", "-vga", "none",
                "-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "-drive", f"if=pflash,format=raw,file={vars_fd}",
                "-drive", f"file={disk},format=qcow2,if=virtio",
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
    disk = os.path.join(RUN, "disk.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", os.path.join(OUT, "signet.raw"),
       "-F", "raw", disk, "4G")

    g = Guest(disk, updates)
    try:
        say("boot 1: slot A")
        g.login()
        g.wait_healthy()
        st, out = g.run("grep -o 'root=PARTLABEL=root-.' /proc/cmdline")
        assert "root-a" in out, out
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
        say("good update written to slot B; rebooting")
        g.send("systemctl reboot")

        say("boot 2: the new slot")
        g.login()
        g.wait_healthy()
        st, out = g.run("grep -o 'root=PARTLABEL=root-.' /proc/cmdline; signet domain list")
        assert "root-b" in out and "ab-test.example" in out, out
        for _ in range(60):
            st, out = g.run("ls /efi/loader/entries")
            if "slot-b.conf" in out:
                break
            time.sleep(2)
        assert "slot-b.conf" in out, out
        say(f"slot B answers with the data kept; entry blessed: {out.split()}")

        st, out = g.run("signet update apply /var/tmp/u1.update 2>&1; ls /efi/loader/entries",
                        300)
        assert "slot-a+3.conf" in out, out
        say("broken update written to slot A; rebooting (3 failing tries expected)")
        g.send("systemctl reboot")
        g.login(timeout=900)
        g.wait_healthy()
        st, out = g.run("grep -o 'root=PARTLABEL=root-.' /proc/cmdline; signet domain list; "
                        "ls /efi/loader/entries")
        assert "root-b" in out and "ab-test.example" in out, out
        assert "slot-a+0-3.conf" in out, out
        tries = len(re.findall(rb"Rebooting automatically", open(g.log.name, "rb").read()))
        say(f"fell back to slot B after {tries} failed boots of A; entries: "
            f"{[l for l in out.split() if l.endswith('.conf')]}")
        say("1 passed, 0 failed")
    finally:
        g.stop()


if __name__ == "__main__":
    main()
