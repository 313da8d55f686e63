"""Ships the Alembic migrations and the controlled label templates inside the wheel (as
cell_chain/migrations and cell_chain/label_templates; their data files are listed in
pyproject.toml), so an install from the wheel can create its database and print labels.
Everything else is in pyproject.toml."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["cell_chain*"])
    + ["cell_chain.migrations", "cell_chain.migrations.versions", "cell_chain.label_templates"],
    package_dir={"cell_chain.migrations": "migrations", "cell_chain.label_templates": "labels"},
)
