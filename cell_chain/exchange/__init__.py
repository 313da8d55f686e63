"""Exchange: the read-only FHIR R5 API for hospitals and the CDISC SDTM datasets for the trial."""
