"""The balanced trial of the reconciliation tests (two sites, an infusion with a dispense, an
SAE, a destroyed and a returned dose), read through the exchange."""
from typing import Any

import pytest

from tests.conftest import api_token
from tests.reconciliation.conftest import balanced_trial, clinic  # noqa: F401 - shared fixture


@pytest.fixture
def trial(clinic: Any) -> dict[str, Any]:  # noqa: F811
    return balanced_trial(clinic)


def get(client: Any, path: str, user: str = "monitor", **kwargs: Any) -> Any:
    return client.get(path, headers=api_token(client, user), **kwargs)
