"""A declarative state machine: one transition table per life cycle."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cell_chain.core.errors import InvalidTransition


@dataclass(frozen=True)
class Lifecycle:
    name: str
    transitions: Mapping[str, tuple[frozenset[str], str]]  # action → (from states, to state)

    def next_state(self, action: str, current: str) -> str:
        sources, target = self.transitions[action]
        if current not in sources:
            raise InvalidTransition(
                f"Cannot {action.replace('_', ' ')} a {self.name} that is {current.replace('_', ' ')}.",
                state=current, action=action,
            )
        return target

    def can(self, action: str, current: str) -> bool:
        return current in self.transitions[action][0]

    def actions_from(self, current: str) -> list[str]:
        return [action for action, (sources, _) in self.transitions.items() if current in sources]


def lifecycle(name: str, table: Iterable[tuple[str, Iterable[str], str]]) -> Lifecycle:
    return Lifecycle(name, {action: (frozenset(sources), target) for action, sources, target in table})
