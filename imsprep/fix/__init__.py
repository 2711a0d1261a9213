"""imsprep fix and rollback: plan, apply with backups and a journal, undo."""
