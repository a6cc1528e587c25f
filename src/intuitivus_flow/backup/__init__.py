"""Backups of the application database, restore, and the restore drill (issue 14, section 3)."""
