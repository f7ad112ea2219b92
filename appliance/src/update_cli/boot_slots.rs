//! The appliance's boot slots as `signet update apply` sees them: which root partition the
//! running system uses, the other slot's partition on the same disk (and its PARTUUID, which
//! the new boot entry names), and GRUB's environment block, which counts the tries of a new
//! slot on BIOS machines.
//!
//! The root is named by PARTUUID on the kernel command line, so a second disk with the same
//! partition labels cannot be mounted instead; the slot's letter comes from the partition's
//! GPT name (root-a, root-b) as the kernel reports it in sysfs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// A root slot: its letter, its block device and its partition's PARTUUID.
#[derive(Debug)]
pub(super) struct Slot {
    pub letter: char,
    pub device: PathBuf,
    pub partuuid: String,
}

/// The device link that `root=` on the command line names: `root=PARTUUID=…` (this image) or
/// `root=PARTLABEL=root-X` (images before PARTUUID).
pub(super) fn root_link(cmdline: &str) -> anyhow::Result<PathBuf> {
    let root = cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("root="));
    if let Some(uuid) = root.and_then(|r| r.strip_prefix("PARTUUID=")) {
        return Ok(Path::new("/dev/disk/by-partuuid").join(uuid.to_ascii_lowercase()));
    }
    if let Some(label @ ("root-a" | "root-b")) = root.and_then(|r| r.strip_prefix("PARTLABEL=")) {
        return Ok(Path::new("/dev/disk/by-partlabel").join(label));
    }
    bail!("this system was not booted from an appliance root slot (root-a or root-b)")
}

/// The slot letter from a partition's sysfs uevent (`PARTNAME=root-a`).
pub(super) fn slot_of_uevent(uevent: &str) -> Option<char> {
    match uevent.lines().find_map(|l| l.strip_prefix("PARTNAME=")) {
        Some("root-a") => Some('a'),
        Some("root-b") => Some('b'),
        _ => None,
    }
}

/// The running slot and the other one (the update's target) on the same disk.
pub(super) fn running_and_target(cmdline: &str) -> anyhow::Result<(char, Slot)> {
    let link = root_link(cmdline)?;
    let dev = fs::canonicalize(&link)
        .with_context(|| format!("the root device {} is not there", link.display()))?;
    let name = dev.file_name().unwrap_or_default().to_owned();
    let part = fs::canonicalize(Path::new("/sys/class/block").join(&name))
        .with_context(|| format!("no sysfs entry for {}", dev.display()))?;
    let uevent = fs::read_to_string(part.join("uevent")).unwrap_or_default();
    let Some(running) = slot_of_uevent(&uevent) else {
        bail!("the root {} is not an appliance root slot", dev.display());
    };
    let target = if running == 'a' { 'b' } else { 'a' };
    let disk = part
        .parent()
        .context("a partition without a disk in sysfs")?;
    let mut device = None;
    for e in fs::read_dir(disk)? {
        let p = e?.path();
        if !p.join("partition").exists() {
            continue;
        }
        if slot_of_uevent(&fs::read_to_string(p.join("uevent")).unwrap_or_default()) == Some(target)
        {
            device = Some(Path::new("/dev").join(p.file_name().unwrap_or_default()));
        }
    }
    let Some(device) = device else {
        bail!("no root-{target} partition next to the running root on its disk");
    };
    let mut partuuid = None;
    for e in fs::read_dir("/dev/disk/by-partuuid").context("no /dev/disk/by-partuuid")? {
        let e = e?;
        if fs::canonicalize(e.path()).ok().as_deref() == Some(device.as_path()) {
            partuuid = Some(e.file_name().to_string_lossy().into_owned());
        }
    }
    let Some(partuuid) = partuuid else {
        bail!("{} has no PARTUUID link", device.display());
    };
    Ok((
        running,
        Slot {
            letter: target,
            device,
            partuuid,
        },
    ))
}

const GRUBENV_HEAD: &str = "# GRUB Environment Block\n";
const GRUBENV_SIZE: usize = 1024;

/// GRUB's environment block with `set` applied: the header, `name=value` lines, and `#`
/// padding to exactly 1024 bytes (the format `load_env`/`save_env` read and write in place).
pub(super) fn grubenv_with(old: &str, set: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut vars: Vec<(String, String)> = old
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in set {
        match vars.iter_mut().find(|(name, _)| name == k) {
            Some(var) => var.1 = v.to_string(),
            None => vars.push((k.to_string(), v.to_string())),
        }
    }
    let mut text = GRUBENV_HEAD.to_string();
    for (k, v) in vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    if text.len() > GRUBENV_SIZE {
        bail!("GRUB's environment block would be longer than {GRUBENV_SIZE} bytes");
    }
    text.push_str(&"#".repeat(GRUBENV_SIZE - text.len()));
    Ok(text)
}

/// BIOS (GRUB): the next boots try `target` three times (grub.cfg takes one try before each
/// boot; `signet-grub-bless` keeps the slot once signetd answers); with no tries left GRUB
/// boots `signet_slot`, the last good one. Written in place, as GRUB itself does.
pub(super) fn grub_try_slot(grubenv: &Path, running: char, target: char) -> anyhow::Result<()> {
    let old = fs::read_to_string(grubenv).unwrap_or_default();
    let good = running.to_string();
    let mut set = vec![
        ("signet_try", target.to_string()),
        ("signet_tries", "3".to_string()),
    ];
    // The slot to come back to is the one running now (blessed, or the image's first one).
    if !old.lines().any(|l| l == format!("signet_slot={good}")) {
        set.push(("signet_slot", good));
    }
    let set: Vec<(&str, &str)> = set.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let text = grubenv_with(&old, &set)?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(grubenv)
        .with_context(|| format!("cannot open {}", grubenv.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.set_len(GRUBENV_SIZE as u64)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_link_comes_from_the_command_line() {
        let l = root_link("ro root=PARTUUID=ABCD-12 quiet").unwrap();
        assert_eq!(l, Path::new("/dev/disk/by-partuuid/abcd-12"));
        let l = root_link("root=PARTLABEL=root-b ro").unwrap();
        assert_eq!(l, Path::new("/dev/disk/by-partlabel/root-b"));
        assert!(root_link("root=/dev/sda1").is_err());
        assert!(root_link("root=PARTLABEL=data").is_err());
    }

    #[test]
    fn slot_comes_from_the_partition_name() {
        assert_eq!(
            slot_of_uevent("MAJOR=254\nPARTN=4\nPARTNAME=root-b\n"),
            Some('b')
        );
        assert_eq!(slot_of_uevent("PARTN=5\nPARTNAME=data\n"), None);
    }

    #[test]
    fn grubenv_is_one_padded_block_with_the_values_set() {
        let old = grubenv_with("", &[("signet_slot", "a")]).unwrap();
        assert_eq!(old.len(), 1024);
        assert!(old.starts_with("# GRUB Environment Block\nsignet_slot=a\n#"));
        let new = grubenv_with(&old, &[("signet_try", "b"), ("signet_slot", "b")]).unwrap();
        assert_eq!(new.len(), 1024);
        assert!(new.starts_with("# GRUB Environment Block\nsignet_slot=b\nsignet_try=b\n#"));
        let long = "x".repeat(1100);
        assert!(grubenv_with("", &[("v", &long)]).is_err());
    }
}
