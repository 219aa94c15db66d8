"""A ledger of block-device mappings and volumes (see its issue)."""
