"""Sites, users, roles, passwords, sessions, API tokens and e-signatures."""
