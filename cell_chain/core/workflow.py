"""A declarative state machine: one transition table per life cycle. Each action names the
states it starts from, the state it leads to and the roles that may take it; services refuse
with it, routes authorise with it and pages draw their buttons from it. `apply` is the only
code that changes a state."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cell_chain.core.errors import InvalidTransition
from cell_chain.core.messages import _l, state

# Targets with a meaning of their own: the action keeps the state (a thaw, a result entered),
# or returns the thing to the state it had before it was set aside (quarantine lifted).
SAME = "="
PREVIOUS = "<"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    # Who may take the action. Empty: nobody asks for it; it follows from another action
    # (a recall quarantines the lot's doses).
    roles: frozenset[str]


@dataclass(frozen=True)
class Lifecycle:
    name: str
    transitions: Mapping[str, Transition]
    field: str = "status"
    previous_field: str | None = None  # where the state before a set-aside is kept

    def next_state(self, action: str, current: str, previous: str | None = None) -> str:
        transition = self.transitions[action]
        if current not in transition.sources:
            raise InvalidTransition(
                _l("Cannot %(action)s a %(record)s that is %(state)s.", action=state(action),
                   record=state(self.name), state=state(current)),
                state=current, action=action,
            )
        if transition.target == SAME:
            return current
        if transition.target == PREVIOUS:
            if previous is None:
                raise InvalidTransition(_l("The %(record)s has no earlier state to return to.", record=state(self.name)),
                                        state=current, action=action)
            return previous
        return transition.target

    def can(self, action: str, current: str) -> bool:
        return current in self.transitions[action].sources

    def roles(self, action: str) -> frozenset[str]:
        return self.transitions[action].roles

    def allowed(self, action: str, current: str, role: str) -> bool:
        return self.can(action, current) and role in self.roles(action)

    def actions_from(self, current: str) -> list[str]:
        return [action for action, t in self.transitions.items() if current in t.sources]

    def actions_for(self, current: str, role: str) -> list[str]:
        """What this role may do to a thing in this state, in table order (pages draw these)."""
        return [action for action, t in self.transitions.items() if current in t.sources and role in t.roles]

    def apply(self, thing: Any, action: str) -> str:
        """Move the thing by the action, or raise InvalidTransition; returns the new state.
        Entering a set-aside state (one that PREVIOUS leaves) remembers where it was."""
        current = getattr(thing, self.field)
        previous = getattr(thing, self.previous_field) if self.previous_field else None
        target = self.next_state(action, current, previous)
        if self.previous_field:
            if self.transitions[action].target == PREVIOUS:
                setattr(thing, self.previous_field, None)
            elif target != current and target in self._set_aside_states():
                setattr(thing, self.previous_field, current)
        setattr(thing, self.field, target)
        return target

    def apply_aside(self, thing: Any, action: str) -> str:
        """The action happens to a thing that is set aside (a quarantined dose is received):
        the state it will return to moves, the thing stays set aside."""
        assert self.previous_field is not None
        moved = self.next_state(action, getattr(thing, self.previous_field))
        setattr(thing, self.previous_field, moved)
        return moved

    def _set_aside_states(self) -> set[str]:
        return {state for t in self.transitions.values() if t.target == PREVIOUS for state in t.sources}


def lifecycle(name: str, table: Iterable[tuple[str, Iterable[str], str, Iterable[str]]], *,
              field: str = "status", previous_field: str | None = None) -> Lifecycle:
    """Rows of (action, from states, to state, roles)."""
    return Lifecycle(name, {action: Transition(frozenset(sources), target, frozenset(roles))
                            for action, sources, target, roles in table},
                     field=field, previous_field=previous_field)
