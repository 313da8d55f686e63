"""Donors, eligibility, lots, release testing, QA release, dose preparation and recall."""
