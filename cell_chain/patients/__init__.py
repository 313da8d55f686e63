"""Patients: enrolment, the four-visit schedule, allocation of doses to visits, wristband and assignment label data."""
