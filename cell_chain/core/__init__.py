"""Foundation shared by every domain: storage, time, errors, audit, signatures, identifiers."""
