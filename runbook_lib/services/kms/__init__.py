"""AWS KMS: the keys that encrypt backups. It holds no data resource of its own, so it
declares no :class:`ServiceSpec`; its ``controls`` module reads the rotation of the keys
that protect backups (the vaults' keys, protect's ``protect.key_alias``) and judges it."""

SPECS = ()
