"""Demo data: the six trial hospitals and one account per role and site."""
from dataclasses import dataclass
from datetime import datetime

from cell_chain.accounts import services
from cell_chain.accounts.roles import Role

DEMO_PASSWORD = "demo-pass-2026"

SITES = [
    ("LZ", "Lanzhou University First Hospital", "Lanzhou"),
    ("BJ", "Beijing Ditan Hospital", "Beijing"),
    ("SH", "Shanghai Public Health Clinical Center", "Shanghai"),
    ("GZ", "Third Affiliated Hospital of Sun Yat-sen University", "Guangzhou"),
    ("CD", "West China Hospital", "Chengdu"),
    ("WH", "Tongji Hospital", "Wuhan"),
]

CENTRAL_USERS = [
    ("admin", "Ada Admin", Role.ADMIN),
    ("lab", "Li Lab", Role.LAB),
    ("lab2", "Lu Lab", Role.LAB),
    ("qa", "Qian QA", Role.QA),
    ("qa2", "Quan QA", Role.QA),
    ("monitor", "Meng Monitor", Role.MONITOR),
]

SITE_USERS = [
    ("pharmacist", "Pharmacist", Role.PHARMACIST),
    ("nurse", "Nurse", Role.NURSE),
    ("nurse2", "Second Nurse", Role.NURSE),
    ("coordinator", "Coordinator", Role.COORDINATOR),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    site_code: str | None


def seed_demo(now: datetime) -> list[DemoAccount]:
    """Create the demo sites and accounts (the caller commits)."""
    accounts: list[DemoAccount] = []
    for code, name, city in SITES:
        services.create_site(code=code, name=name, city=city, actor=None, now=now)
    for username, name, role in CENTRAL_USERS:
        services.create_user(username=username, display_name=name, role=role,
                             password=DEMO_PASSWORD, site_code=None, actor=None, now=now)
        accounts.append(DemoAccount(username, role, None))
    for code, _, city in SITES:
        for suffix, title, role in SITE_USERS:
            username = f"{code.lower()}-{suffix}"
            services.create_user(username=username, display_name=f"{title} {city}", role=role,
                                 password=DEMO_PASSWORD, site_code=code, actor=None, now=now)
            accounts.append(DemoAccount(username, role, code))
    return accounts
