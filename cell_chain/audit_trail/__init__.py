"""Read-only views of the audit trail and its verification."""
