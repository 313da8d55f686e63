"""Foundation every package uses and that knows no people and no domain: storage, time, errors, the audit chain, ISBT 128 identifiers, scanning and the state machine."""
