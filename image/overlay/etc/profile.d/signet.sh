# The `signet` CLI on the console uses this node's administrator credentials (cli.json).
export SIGNET_DATA_DIR=/var/lib/signet/node
