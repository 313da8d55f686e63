"""The server-rendered shell: layout, home page per role, error pages."""
