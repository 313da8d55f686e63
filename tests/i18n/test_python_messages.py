"""Every message the Python code builds for a person goes through the catalogue: a refusal, a
form error, a flash, a discrepancy, a report heading built from a bare f-string or literal
would reach a Chinese reader in English, and the catalogue test cannot see it (nothing marks it
for extraction). This scan finds them.

The rule: in a *message position* a text must be a gettext call (`_`, `_l`, `N_`, …), never an
f-string, a string literal or a concatenation of them. Message positions are
- the arguments of a refusal (any subclass of DomainError, found by reading the class
  definitions), and of `flash`;
- the element of a list that is a value of a dict literal, or assigned to a subscript: the
  `{field: [message]}` and `errors[field] = [message]` shapes of form and validation errors;
- the text fields of the documents and findings people read: `Discrepancy` explanation,
  `Involved` label, `Blocker` message, a report's `Report` title and scope, `Table` and
  `Column` titles, a logger file's `LoggerFileError`.
A stable code (`PACK_DUPLICATE`: upper case and underscores) is not a message. Log lines, SQL,
audit event kinds and file names never sit in these positions, so they need no exception list.
"""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cell_chain"
GETTEXT = {"_", "_l", "N_", "gettext", "lazy_gettext", "ngettext"}
CODE = re.compile(r"[A-Z][A-Z0-9_]*")
# carrier → positions of its text arguments (None: every argument) and text keywords
CARRIERS: dict[str, tuple[tuple[int, ...] | None, tuple[str, ...]]] = {
    "flash": ((0,), ("message",)),
    "Discrepancy": ((1,), ("explanation",)),
    "Involved": ((2,), ("label",)),
    "Blocker": ((1,), ("message",)),
    "Report": ((1, 2), ("title", "scope")),
    "Table": ((0,), ("title",)),
    "Column": ((1,), ("title",)),
    "LoggerFileError": (None, ()),
    # the logger reader's two ways of building one: the reason, and the damaged line's problem
    "_refuse": ((0,), ("reason",)),
    "_damaged": ((2,), ("problem",)),
}
REFUSAL_KEYWORDS = ("detail", "message")


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def refusal_classes(trees: list[ast.Module]) -> set[str]:
    """DomainError and every class that derives from it, however deep, by name."""
    bases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_name(base) for base in node.bases)
    found, grew = {"DomainError"}, True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                grew = True
    return found


def untranslated_text(node: ast.expr, sentence: bool = False) -> bool:
    """An f-string, a literal with words (not a stable code; with `sentence`, words with a
    space between them), or a sum or choice containing one."""
    if isinstance(node, ast.JoinedStr):  # with `sentence`, words around the values (not "Patient/{id}")
        return not sentence or any(isinstance(part, ast.Constant) and " " in part.value for part in node.values)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value.strip()
        return (any(c.isalpha() for c in text) and not CODE.fullmatch(text)
                and (" " in text or not sentence))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return untranslated_text(node.left, sentence) or untranslated_text(node.right, sentence)
    if isinstance(node, ast.IfExp):
        return untranslated_text(node.body, sentence) or untranslated_text(node.orelse, sentence)
    return False


def _message_arguments(call: ast.Call, refusals: set[str]) -> list[ast.expr]:
    name = _name(call.func)
    if name in GETTEXT:
        return []
    if name in refusals:
        return [*call.args, *(k.value for k in call.keywords if k.arg in REFUSAL_KEYWORDS)]
    if name in CARRIERS:
        positions, keywords = CARRIERS[name]
        args = call.args if positions is None else [a for i, a in enumerate(call.args) if i in positions]
        return [*args, *(k.value for k in call.keywords if k.arg in keywords)]
    return []


def _error_list_items(node: ast.Dict | ast.DictComp) -> list[ast.expr]:
    values = node.values if isinstance(node, ast.Dict) else [node.value]
    items: list[ast.expr] = []
    for value in values:
        sides = [value.left, value.right] if isinstance(value, ast.BinOp) else [value]
        for side in sides:
            if isinstance(side, ast.List):
                items.extend(side.elts)
            elif isinstance(side, ast.ListComp):
                items.append(side.elt)
    return items


def offenders(sources: dict[str, str], also_defined_in: dict[str, str] | None = None) -> list[str]:
    """`file:line: text` for each user-visible text in a message position that is not marked
    for translation. `sources`: file name → Python source; refusal classes may be defined in
    `also_defined_in` too."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    refusals = refusal_classes([*trees.values(), *(ast.parse(t) for t in (also_defined_in or {}).values())])
    found = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                texts = [c for c in _message_arguments(node, refusals) if untranslated_text(c)]
            elif isinstance(node, ast.Dict | ast.DictComp):
                # a list of words in a dict is as often a choice of values: sentences only
                texts = [c for c in _error_list_items(node) if untranslated_text(c, sentence=True)]
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
                  and any(isinstance(target, ast.Subscript) for target in node.targets)):
                # errors["field"] = ["..."]
                texts = [c for c in node.value.elts if untranslated_text(c, sentence=True)]
            else:
                continue
            found += [f"{name}:{c.lineno}: {ast.unparse(c)[:90]}" for c in texts]
    return sorted(found, key=lambda line: (line.split(":")[0], int(line.split(":")[1])))


def package_sources() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8") for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_message_built_in_python_is_marked_for_translation():
    found = offenders(package_sources())
    assert not found, (f"{len(found)} user-visible texts are built without gettext (wrap them in _l(...) "
                       "with named placeholders, then `make messages` and translate):\n" + "\n".join(found))


PLANTED = '''
from cell_chain.core.errors import DomainError, NotFound
from cell_chain.core.messages import _l


class ColdChainBroken(NotFound):
    code = "COLD_CHAIN_BROKEN"


def refuse(dose, now):
    if dose.expired:
        raise ColdChainBroken(f"Dose {dose.code} expired at {now:%H:%M} UTC.")
    if dose.lost:
        raise DomainError("The dose is lost.", state="LOST")
    if dose.late:
        raise NotFound("Dose " + dose.code + " is late.")
    if dose.wrong:
        return {"scan": [f"Not packed: {dose.code}"]}
    errors["scan"] = ["Scan the bag."]
    flash("Dose sent.", "ok")
    log.info("dose %s refused", dose.code)
    db.session.execute(text("SELECT code FROM doses WHERE code = :code"), {"code": dose.code})
    audit.record("dose_refused", dose)
    raise NotFound(_l("No dose %(code)s.", code=dose.code))
'''


def test_the_scan_finds_a_planted_offender_and_spares_marked_text_logs_sql_and_codes():
    found = offenders({"planted.py": PLANTED}, also_defined_in=package_sources())
    assert [line.split(": ", 1)[0] for line in found] == [
        "planted.py:12", "planted.py:14", "planted.py:16", "planted.py:18", "planted.py:19", "planted.py:20"]
    assert "f'Dose {dose.code} expired at {now:%H:%M} UTC.'" in found[0]
    assert not any("LOST" in line or "SELECT" in line or "dose_refused" in line for line in found)
