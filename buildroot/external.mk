# Signet's packages for Buildroot (BR2_EXTERNAL).
include $(sort $(wildcard $(BR2_EXTERNAL_SIGNET_PATH)/package/*/*.mk))
