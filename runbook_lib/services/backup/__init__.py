"""AWS Backup: the cross-service source of recovery points (vaults, jobs, copies). It holds
no data resource of its own, so it declares no :class:`ServiceSpec`; its ``restore`` module
registers the ``aws-backup`` finder and restorer for every service with ``aws_backup``."""

SPECS = ()
