################################################################################
#
# signet
#
################################################################################

# Built from the Signet tree this BR2_EXTERNAL lives in (buildroot/ is one level down).
SIGNET_VERSION = 0.1.0
SIGNET_SITE = $(BR2_EXTERNAL_SIGNET_PATH)/..
SIGNET_SITE_METHOD = local
SIGNET_LICENSE = Apache-2.0
SIGNET_DEPENDENCIES = host-pkgconf openssl
# The workspace's appliance crate holds both binaries; Cargo.lock pins every dependency
# (buildroot vendors them with `cargo vendor` at download time and builds --offline --locked).
SIGNET_SUBDIR = appliance
SIGNET_CARGO_ENV = OPENSSL_NO_VENDOR=1

# The appliance units, firewall and first-boot scripts are not in this package: the defconfig
# points BR2_ROOTFS_OVERLAY at ../image/overlay, the overlay the Debian image is tested with.
define SIGNET_USERS
	signet -1 signet -1 * /var/lib/signet - - Signet node
endef

$(eval $(cargo-package))
