"""Patients, the four-dose schedule, dose allocation and (later) the bedside infusion record."""
