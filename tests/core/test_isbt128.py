"""ISBT 128 identifiers: check characters, every structure both ways, and what parse refuses."""
import itertools
import json
import random as random_module
import re
import string
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_chain.core.isbt128 import (
    Coi,
    Din,
    DoseNumber,
    Expiry,
    Isbt128Error,
    Parsed,
    ProductCode,
    assignment_compound,
    bag_compound,
    mod37_2_check,
    parse,
)
from tests.shared_data import require_shared_data, shared_data_dir

VECTORS = shared_data_dir() / "isbt128" / "vectors.json"
MOD37_2_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
ALPHANUMERIC = MOD37_2_CHARS[:36]
# A cold start of from_regex can pass the 200 ms default deadline on a busy CI machine.
PROPERTY = settings(deadline=None)

# Every kind in vectors.json, by how these tests use it.
CHECKED_KINDS = {
    "din_check_character",
    "iso7064_mod37_2_check_character",
    "din_with_check_character_valid",
    "iso7064_mod37_2_valid",
    "din_type3_flag",
    "din_type3_flag_validate",
    "din_parse",
    "product_code_ds003",
    "expiration_datetime_ds005",
}
# Real ISBT 128 payloads that are not ours: a scan of one must be unrecognised, never a match.
FOREIGN_KINDS = {
    "blood_group_ds002",
    "data_identifier_confusion",
    "expiration_date_ds004",
    "production_date_ds008",
    "ppic_ds034",
    "patient_id_ds025",
    "sec_ds038",
    "non_iccbba_segment",
    "concatenated_pair",
    "compound_message_ds023",
    "invalid",
}
NOT_APPLICABLE_KINDS = {
    "special_testing_rbc_antigens_ds012_content": "decodes DS012 content to text; we use no DS012",
    "sec_ds038_content": "decodes Single European Code content; we do not issue the SEC",
    "sec_eye_readable": "eye-readable SEC text, not a barcode payload",
    "basic_udi_di_checksum": "ST-017 two-digit Basic UDI-DI checksum, a different calculation",
    "basic_udi_di_valid": "ST-017 two-digit Basic UDI-DI checksum, a different calculation",
}
# Rejections in the source system that are registry look-ups, not syntax: parse accepts them.
BUSINESS_RULE_MESSAGES = {"FIN is not associated with a registered facility"}


def vectors(*kinds: str) -> list:
    if not VECTORS.is_file():
        # One placeholder so each test still runs and require_shared_data skips or fails it.
        return [pytest.param(None, id="vectors.json-absent")]
    entries = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    return [
        pytest.param(entry, id=f"{entry['kind']}:{entry['input']}")
        for entry in entries
        if entry["kind"] in kinds
    ]


def is_rejection(expected: object) -> bool:
    if expected is False:
        return True
    return (
        isinstance(expected, dict)
        and expected.get("valid") is False
        and expected.get("message") not in BUSINESS_RULE_MESSAGES
    )


def carries_valid_check(chars: str) -> bool:
    try:
        return mod37_2_check(chars[:-1]) == chars[-1]
    except Isbt128Error:
        return False


def rejected(payload: object) -> bool:
    try:
        parse(payload)  # type: ignore[arg-type]
    except Isbt128Error:
        return True
    return False


DIN = Din("A9999", 26, 123)
PRODUCT = ProductCode("YA001", "V", "00")
EXPIRY = Expiry(datetime(2026, 2, 11, 23, 59, tzinfo=UTC))
DOSE = DoseNumber(12)
COI = Coi("A9999", 26, 1)
BAG = bag_compound(DIN, PRODUCT, EXPIRY, DOSE)
ASSIGNMENT = assignment_compound(COI, DIN, PRODUCT)
# The COI as encoded before ST-001 alignment: check character appended (18 characters).
OLD_COI = COI.payload + COI.check
# Another instance of each kind, for messages that repeat a structure kind.
OTHER_DIN = Din("A9999", 26, 124)
OTHER_PRODUCT = ProductCode("YA002", "V", "00")
OTHER_EXPIRY = Expiry(datetime(2026, 2, 12, 23, 59, tzinfo=UTC))
OTHER_DOSE = DoseNumber(13)
OTHER_COI = Coi("A9999", 26, 2)


def message(*structures: object) -> str:
    """A compound message with reference 000 around exactly these structures, in this order."""
    body = "".join(structure.payload for structure in structures)  # type: ignore[attr-defined]
    return f"=+{len(structures):02d}000{body}"


# --- vectors.json -------------------------------------------------------------------------


def test_every_vector_kind_is_used_or_set_aside_with_a_reason() -> None:
    path = require_shared_data(VECTORS)
    kinds = {entry["kind"] for entry in json.loads(path.read_text(encoding="utf-8"))["vectors"]}
    assert kinds - CHECKED_KINDS - FOREIGN_KINDS - set(NOT_APPLICABLE_KINDS) == set()


@pytest.mark.parametrize("vector", vectors("din_check_character"))
def test_din_check_character_matches_published_vector(vector: dict) -> None:
    require_shared_data(VECTORS)
    assert mod37_2_check(vector["input"]) == vector["expected"]
    din = parse(f"={vector['input']}00").din
    assert din is not None
    assert din.check == vector["expected"]


@pytest.mark.parametrize("vector", vectors("iso7064_mod37_2_check_character"))
def test_mod37_2_check_matches_published_vector(vector: dict) -> None:
    require_shared_data(VECTORS)
    assert mod37_2_check(vector["input"]) == vector["expected"]


@pytest.mark.parametrize(
    "vector", vectors("din_with_check_character_valid", "iso7064_mod37_2_valid")
)
def test_mod37_2_validation_matches_published_vector(vector: dict) -> None:
    require_shared_data(VECTORS)
    assert carries_valid_check(vector["input"]) is vector["expected"]


@pytest.mark.parametrize("vector", vectors("din_type3_flag"))
def test_din_type3_flag_is_sixty_plus_the_check_value(vector: dict) -> None:
    require_shared_data(VECTORS)
    flag = 60 + MOD37_2_CHARS.index(mod37_2_check(vector["input"]))
    assert f"{flag:02d}" == vector["expected"]


@pytest.mark.parametrize("vector", vectors("din_type3_flag_validate"))
def test_din_with_type3_flag_parses_only_when_the_flag_matches(vector: dict) -> None:
    require_shared_data(VECTORS)
    if vector["expected"]["checksumValid"]:
        assert parse(vector["input"]).payload == vector["input"]
    else:
        assert rejected(vector["input"])


@pytest.mark.parametrize("vector", vectors("din_parse"))
def test_din_payload_matches_published_vector(vector: dict) -> None:
    require_shared_data(VECTORS)
    expected = vector["expected"]
    if is_rejection(expected):
        assert rejected(vector["input"])
        return
    parsed = parse(vector["input"])
    assert parsed.kind == "din"
    assert parsed.payload == vector["input"]
    din = parsed.din
    assert din is not None
    if "din" in expected:
        assert din.code == expected["din"]
    if "facilityIdentificationNumber" in expected:
        assert din.facility == expected["facilityIdentificationNumber"]
        assert f"{din.year:02d}" == expected["year"]
        assert f"{din.sequence:06d}" == expected["sequenceNumber"]
        assert din.flags == expected["flagCharacters"]


@pytest.mark.parametrize("vector", vectors("product_code_ds003"))
def test_product_code_matches_published_vector(vector: dict) -> None:
    require_shared_data(VECTORS)
    expected = vector["expected"]
    if is_rejection(expected):
        assert rejected(vector["input"])
        return
    parsed = parse(vector["input"])
    assert parsed.kind == "product"
    assert parsed.payload == vector["input"]
    assert parsed.product is not None
    assert parsed.product.code == expected.get("productCode", expected.get("content"))


@pytest.mark.parametrize("vector", vectors("expiration_datetime_ds005"))
def test_expiry_matches_published_vector(vector: dict) -> None:
    require_shared_data(VECTORS)
    expected = vector["expected"]
    if is_rejection(expected):
        assert rejected(vector["input"])
        return
    parsed = parse(vector["input"])
    assert parsed.kind == "expiry"
    assert parsed.payload == vector["input"]
    assert parsed.expiry is not None
    at = parsed.expiry.at
    assert at.tzinfo is UTC
    if "date" in expected:
        assert at.strftime("%Y-%m-%d %H:%M") == f"{expected['date']} {expected['time']}"
    if "result" in expected:
        # The source system stretches hh:mm to the minute's last second; we keep the minute.
        assert at.strftime("%Y-%m-%dT%H:%M") == expected["result"][:16]


@pytest.mark.parametrize("vector", vectors(*FOREIGN_KINDS))
def test_foreign_isbt128_payload_is_unrecognised(vector: dict) -> None:
    require_shared_data(VECTORS)
    assert rejected(vector["input"])


def test_missing_shared_data_skips_the_test_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"\.\./shared/data is absent"):
        require_shared_data("isbt128/no-such-file.json")


def test_missing_shared_data_fails_the_test_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"\.\./shared/data is absent"):
        require_shared_data("isbt128/no-such-file.json")


# --- Mod 37-2 -----------------------------------------------------------------------------


def test_check_character_of_the_st001_worked_example_is_a() -> None:
    assert mod37_2_check("G123417654321") == "A"


def test_check_character_can_be_the_supplementary_asterisk() -> None:
    assert mod37_2_check("A999522123456") == "*"


@pytest.mark.parametrize(
    "chars",
    ["", "g123417654321", "G12341765432*", "G1234 17654321", "A-1", "É", "\u0663", "A\n"],
)
def test_mod37_2_check_rejects_characters_outside_0_9_and_a_z(chars: str) -> None:
    with pytest.raises(Isbt128Error):
        mod37_2_check(chars)


def test_mod37_2_check_refuses_bytes() -> None:
    with pytest.raises(TypeError):
        mod37_2_check(b"G123417654321")  # type: ignore[arg-type]


@PROPERTY
@given(st.text(ALPHANUMERIC, min_size=1, max_size=20), st.data())
def test_mod37_2_check_detects_every_single_substitution(chars: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(chars) - 1))
    other = data.draw(st.sampled_from(ALPHANUMERIC).filter(lambda c: c != chars[position]))
    changed = chars[:position] + other + chars[position + 1:]
    assert mod37_2_check(changed) != mod37_2_check(chars)


@PROPERTY
@given(st.text(ALPHANUMERIC, min_size=2, max_size=20), st.data())
def test_mod37_2_check_detects_every_adjacent_transposition(
    chars: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(chars) - 2))
    swapped = chars[:position] + chars[position + 1] + chars[position] + chars[position + 2:]
    if swapped != chars:
        assert mod37_2_check(swapped) != mod37_2_check(chars)


# --- building each structure --------------------------------------------------------------


def test_din_has_13_character_code_boxed_check_eye_readable_text_and_payload() -> None:
    assert DIN.code == "A999926000123"
    assert DIN.check == "P"
    assert DIN.eye_readable == "A9999 26 000123"
    assert DIN.payload == "=A99992600012300"


def test_din_type3_flags_must_carry_the_check_value() -> None:
    assert Din("G1234", 17, 654321, "70").payload == "=G12341765432170"
    with pytest.raises(Isbt128Error):
        Din("G1234", 17, 654321, "71")


@pytest.mark.parametrize("facility", ["I1234", "N0000", "P9999", "Z0001", "10000", "99999"])
def test_din_facility_may_start_with_a_to_n_p_to_z_or_1_to_9(facility: str) -> None:
    assert Din(facility, 26, 1).facility == facility


@pytest.mark.parametrize(
    "fields",
    [
        {"facility": "O1234"},
        {"facility": "01234"},
        {"facility": "a9999"},
        {"facility": "A999"},
        {"facility": "A99999"},
        {"facility": "A99O9"},
        {"facility": "AB123"},
        {"facility": "A 999"},
        {"year": -1},
        {"year": 100},
        {"sequence": -1},
        {"sequence": 1_000_000},
        {"flags": "0"},
        {"flags": "000"},
        {"flags": "O0"},
        {"flags": "I0"},
        {"flags": "Z0"},
        {"flags": "0 "},
    ],
    ids=repr,
)
def test_din_rejects_invalid_values(fields: dict) -> None:
    values = {"facility": "A9999", "year": 26, "sequence": 123, "flags": "00"} | fields
    with pytest.raises(Isbt128Error):
        Din(**values)


@pytest.mark.parametrize(
    "fields",
    [{"facility": None}, {"year": "26"}, {"year": True}, {"sequence": 1.0}, {"flags": 0}],
    ids=repr,
)
def test_din_rejects_values_of_the_wrong_type(fields: dict) -> None:
    values = {"facility": "A9999", "year": 26, "sequence": 123, "flags": "00"} | fields
    with pytest.raises(TypeError):
        Din(**values)


def test_product_code_payload_is_description_collection_type_and_division() -> None:
    assert PRODUCT.code == "YA001V00"
    assert PRODUCT.payload == "=<YA001V00"
    assert ProductCode("S1295", "4", "Ab").payload == "=<S12954Ab"


@pytest.mark.parametrize(
    "fields",
    [
        {"description_code": "YA01"},
        {"description_code": "YA0011"},
        {"description_code": "1A001"},
        {"description_code": "ya001"},
        {"description_code": "YA-01"},
        {"collection_type": ""},
        {"collection_type": "VV"},
        {"collection_type": "-"},
        {"division": "0"},
        {"division": "000"},
        {"division": "0-"},
    ],
    ids=repr,
)
def test_product_code_rejects_invalid_values(fields: dict) -> None:
    values = {"description_code": "YA001", "collection_type": "V", "division": "00"} | fields
    with pytest.raises(Isbt128Error):
        ProductCode(**values)


def test_dose_number_payload_has_six_digits() -> None:
    assert DOSE.payload == "=,000012"
    assert DoseNumber(999_999).payload == "=,999999"


@pytest.mark.parametrize("number", [-1, 1_000_000])
def test_dose_number_rejects_numbers_that_do_not_fit_six_digits(number: int) -> None:
    with pytest.raises(Isbt128Error):
        DoseNumber(number)


def test_dose_number_rejects_text() -> None:
    with pytest.raises(TypeError):
        DoseNumber("12")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("at", "payload"),
    [
        (datetime(2026, 2, 11, 23, 59, tzinfo=UTC), "&>0260422359"),
        (datetime(2018, 12, 31, 23, 59, tzinfo=UTC), "&>0183652359"),
        (datetime(2024, 12, 31, 0, 0, tzinfo=UTC), "&>0243660000"),
        (datetime(2000, 1, 1, 0, 0, tzinfo=UTC), "&>0000010000"),
        (datetime(2999, 12, 31, 23, 59, tzinfo=UTC), "&>9993652359"),
    ],
)
def test_expiry_payload_is_century_year_day_of_year_and_time(at: datetime, payload: str) -> None:
    assert Expiry(at).payload == payload


def test_expiry_given_in_another_offset_is_held_in_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    expiry = Expiry(datetime(2026, 2, 12, 7, 59, tzinfo=beijing))
    assert expiry.at == datetime(2026, 2, 11, 23, 59, tzinfo=UTC)
    assert expiry.at.tzinfo is UTC
    assert expiry.payload == "&>0260422359"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 2, 11, 23, 59),
        datetime(2026, 2, 11, 23, 59, 1, tzinfo=UTC),
        datetime(2026, 2, 11, 23, 59, 0, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(3000, 1, 1, 0, 0, tzinfo=UTC),
    ],
    ids=str,
)
def test_expiry_rejects_naive_sub_minute_or_out_of_range_times(at: datetime) -> None:
    with pytest.raises(Isbt128Error):
        Expiry(at)


@pytest.mark.parametrize("at", [date(2026, 2, 11), "2026-02-11T23:59Z"], ids=repr)
def test_expiry_rejects_values_that_are_not_datetimes(at: object) -> None:
    with pytest.raises(TypeError):
        Expiry(at)  # type: ignore[arg-type]


def test_coi_payload_is_the_st001_form_without_the_check_character() -> None:
    assert COI.code == "A999926000001"
    assert COI.payload == "&/CHA999926000001"
    assert len(COI.payload) == 17
    assert len(COI.payload.removeprefix("&/")) == 15


def test_coi_has_boxed_mod37_2_check_and_eye_readable_text_like_the_din() -> None:
    assert COI.check == mod37_2_check("A999926000001") == "8"
    assert COI.eye_readable == "CH A9999 26 000001"
    assert COI.payload == "&/CH" + COI.code


@pytest.mark.parametrize(
    "fields",
    [{"facility": "O9999"}, {"facility": "A999"}, {"year": 100}, {"sequence": 1_000_000}],
    ids=repr,
)
def test_coi_rejects_invalid_values(fields: dict) -> None:
    with pytest.raises(Isbt128Error):
        Coi(**({"facility": "A9999", "year": 26, "sequence": 1} | fields))


def test_bag_compound_has_reference_000_and_din_product_expiry_dose_number_in_that_order() -> None:
    assert BAG == "=+04000=A99992600012300=<YA001V00&>0260422359=,000012"


def test_assignment_compound_has_reference_000_and_coi_din_product_in_that_order() -> None:
    assert ASSIGNMENT == "=+03000&/CHA999926000001=A99992600012300=<YA001V00"


def test_compound_builders_refuse_arguments_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError, match="din must be a Din, got ProductCode"):
        bag_compound(PRODUCT, DIN, EXPIRY, DOSE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dose_number must be a DoseNumber, got Coi"):
        bag_compound(DIN, PRODUCT, EXPIRY, COI)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="coi must be a Coi, got str"):
        assignment_compound(COI.payload, DIN, PRODUCT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="product must be a ProductCode, got NoneType"):
        assignment_compound(COI, DIN, None)  # type: ignore[arg-type]


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("structure", "kind"),
    [(DIN, "din"), (PRODUCT, "product"), (EXPIRY, "expiry"), (DOSE, "dose_number"), (COI, "coi")],
    ids=lambda value: getattr(value, "kind", value),
)
def test_single_structure_parses_to_its_kind(structure: object, kind: str) -> None:
    parsed = parse(structure.payload)  # type: ignore[attr-defined]
    assert parsed == Parsed(kind=kind, structures=(structure,))  # type: ignore[arg-type]


def test_single_structure_result_has_only_its_own_accessor() -> None:
    parsed = parse(DIN.payload)
    assert parsed.din == DIN
    assert (parsed.product, parsed.expiry, parsed.dose_number, parsed.coi) == (None,) * 4


def test_single_structure_result_has_no_label() -> None:
    assert parse(COI.payload).label is None
    assert parse(DOSE.payload).label is None


def test_bag_compound_parses_to_its_four_structures() -> None:
    parsed = parse(BAG)
    assert parsed.kind == "compound"
    assert parsed.label == "bag"
    assert parsed.structures == (DIN, PRODUCT, EXPIRY, DOSE)
    assert (parsed.din, parsed.product, parsed.expiry, parsed.dose_number) == (
        DIN, PRODUCT, EXPIRY, DOSE,
    )
    assert parsed.coi is None
    assert parsed.payload == BAG


def test_assignment_compound_parses_to_its_three_structures() -> None:
    parsed = parse(ASSIGNMENT)
    assert parsed.kind == "compound"
    assert parsed.label == "assignment"
    assert parsed.structures == (COI, DIN, PRODUCT)
    assert (parsed.coi, parsed.din, parsed.product) == (COI, DIN, PRODUCT)
    assert (parsed.expiry, parsed.dose_number) == (None, None)
    assert parsed.payload == ASSIGNMENT


def kinds(order: tuple) -> str:
    return "-".join(structure.kind for structure in order)


@pytest.mark.parametrize(
    "order", list(itertools.permutations((DIN, PRODUCT, EXPIRY, DOSE))), ids=kinds
)
def test_bag_compound_is_recognised_in_any_order(order: tuple) -> None:
    parsed = parse(message(*order))
    assert parsed.label == "bag"
    assert parsed.structures == order
    assert (parsed.din, parsed.product, parsed.expiry, parsed.dose_number, parsed.coi) == (
        DIN, PRODUCT, EXPIRY, DOSE, None,
    )
    assert parsed.payload == message(*order)


@pytest.mark.parametrize("order", list(itertools.permutations((COI, DIN, PRODUCT))), ids=kinds)
def test_assignment_compound_is_recognised_in_any_order(order: tuple) -> None:
    parsed = parse(message(*order))
    assert parsed.label == "assignment"
    assert parsed.structures == order
    assert (parsed.coi, parsed.din, parsed.product, parsed.expiry, parsed.dose_number) == (
        COI, DIN, PRODUCT, None, None,
    )
    assert parsed.payload == message(*order)


@pytest.mark.parametrize("reference", ["001", "002", "003", "035", "999"])
@pytest.mark.parametrize("payload", [BAG, ASSIGNMENT], ids=["bag", "assignment"])
def test_compound_with_a_reference_other_than_000_is_rejected(payload: str, reference: str) -> None:
    with pytest.raises(Isbt128Error, match=f"reference {reference} is not 000"):
        parse(payload[:4] + reference + payload[7:])


REPEATED_KIND = {
    "din twice (bag-sized)": message(DIN, PRODUCT, EXPIRY, DIN),
    "same din twice in a bag": message(DIN, DIN, PRODUCT, EXPIRY, DOSE),
    "two different dins in a bag": message(DIN, PRODUCT, EXPIRY, DOSE, OTHER_DIN),
    "two products in a bag": message(DIN, PRODUCT, OTHER_PRODUCT, EXPIRY, DOSE),
    "two expiries in a bag": message(DIN, PRODUCT, EXPIRY, OTHER_EXPIRY, DOSE),
    "two dose numbers in a bag": message(DIN, PRODUCT, EXPIRY, DOSE, OTHER_DOSE),
    "two cois in an assignment": message(COI, OTHER_COI, DIN, PRODUCT),
    "coi twice (assignment-sized)": message(COI, DIN, COI),
    "product twice (assignment-sized)": message(COI, PRODUCT, PRODUCT),
}


@pytest.mark.parametrize("payload", REPEATED_KIND.values(), ids=REPEATED_KIND.keys())
def test_compound_repeating_a_structure_kind_is_rejected(payload: str) -> None:
    with pytest.raises(Isbt128Error, match="compound message repeats the"):
        parse(payload)


WRONG_COMBINATION = {
    "no structures": message(),
    "din alone": message(DIN),
    "dose number alone": message(DOSE),
    "coi alone": message(COI),
    "din and dose number": message(DIN, DOSE),
    "din, product and dose number": message(DIN, PRODUCT, DOSE),
    "din, product and expiry": message(DIN, PRODUCT, EXPIRY),
    "bag without din": message(PRODUCT, EXPIRY, DOSE),
    "bag plus coi": message(DIN, PRODUCT, EXPIRY, DOSE, COI),
    "bag with coi instead of dose number": message(DIN, PRODUCT, EXPIRY, COI),
    "bag with coi instead of din": message(COI, PRODUCT, EXPIRY, DOSE),
    "assignment plus dose number": message(COI, DIN, PRODUCT, DOSE),
    "assignment plus expiry": message(COI, DIN, PRODUCT, EXPIRY),
    "assignment without din": message(COI, PRODUCT),
    "assignment without coi": message(DIN, PRODUCT),
    "assignment with dose number instead of product": message(COI, DIN, DOSE),
    "every kind once": message(COI, DIN, PRODUCT, EXPIRY, DOSE),
}


@pytest.mark.parametrize("payload", WRONG_COMBINATION.values(), ids=WRONG_COMBINATION.keys())
def test_compound_with_any_other_combination_is_rejected(payload: str) -> None:
    with pytest.raises(Isbt128Error, match="neither a bag nor an assignment label"):
        parse(payload)


@pytest.mark.parametrize(
    "payload",
    [OLD_COI, "=+03002" + OLD_COI + DIN.payload + PRODUCT.payload, message(COI) + COI.check,
     "=+03000" + OLD_COI + DIN.payload + PRODUCT.payload,
     "=+03000" + DIN.payload + PRODUCT.payload + OLD_COI],
    ids=["alone", "old assignment", "in a message", "in an assignment", "last in an assignment"],
)
def test_the_old_18_character_coi_with_its_check_character_is_rejected(payload: str) -> None:
    with pytest.raises(Isbt128Error):
        parse(payload)


def test_the_old_coi_alone_is_rejected_as_a_wrong_length() -> None:
    assert len(OLD_COI) == 18
    message = "wrong length: 18 characters where the chain of identity identifier has 17"
    with pytest.raises(Isbt128Error, match=re.escape(message)):
        parse(OLD_COI)


@pytest.mark.parametrize(
    "scanned",
    [
        "{}\r", "{}\n", "{}\r\n", "{} ", "  {}  ", "\t{}\n", "{} \r\n", "\r\n{}\r\n",
    ],
    ids=repr,
)
@pytest.mark.parametrize("payload", [DIN.payload, COI.payload, BAG, ASSIGNMENT])
def test_scanner_enter_and_camera_whitespace_around_the_payload_are_ignored(
    scanned: str, payload: str
) -> None:
    assert parse(scanned.format(payload)).payload == payload


REJECTED = {
    # empty, wrong type, wrong characters
    "empty": "",
    "only whitespace": " \r\n",
    "none": None,
    "bytes": DIN.payload.encode(),
    "number": 123,
    "very long": "=" * 10_000,
    "space inside": "=A9999 2600012300",
    "tab inside": "=A9999\t2600012300",
    "group separator between structures": BAG.replace("=<", "\x1d=<"),
    "nul at end": DIN.payload + "\x00",
    "delete at end": DIN.payload + "\x7f",
    "leading group separator": "\x1d" + DIN.payload,
    "no-break space after": DIN.payload + "\u00a0",
    "fullwidth equals sign": "\uff1d" + DIN.payload[1:],
    "arabic-indic digit": DIN.payload[:-1] + "\u0660",
    "lone surrogate": DIN.payload + "\ud800",
    "lowercase din (caps lock)": DIN.payload.lower(),
    "unknown data identifier": "=zINVALID_DI_TEST",
    "no data identifier": "A99992600012300",
    "just an equals sign": "=",
    "eye-readable din": "A9999 26 000123 P",
    "din with check character appended": DIN.payload + "P",
    # DIN
    "din one short": DIN.payload[:-1],
    "din one long": DIN.payload + "0",
    "din missing middle digit": DIN.payload[:8] + DIN.payload[9:],
    "din facility starting O": "=O99992600012300",
    "din facility starting 0": "=099992600012300",
    "din letter in year": "=A99992O00012300",
    "din flag letter O": "=A9999260001230O",
    "din type 3 flag mismatch": "=G12341765432171",
    "two dins concatenated": DIN.payload * 2,
    "din then dose number without compound header": DIN.payload + DOSE.payload,
    # product code
    "product one short": PRODUCT.payload[:-1],
    "product one long": PRODUCT.payload + "0",
    "product lowercase description": "=<ya001V00",
    "product symbol in division": "=<YA001V0-",
    # dose number
    "dose number five digits": "=,00012",
    "dose number seven digits": "=,0000012",
    "dose number letter": "=,00001A",
    # expiry
    "expiry day 000": "&>0260002359",
    "expiry day 366 of a common year": "&>0253662359",
    "expiry day 367 of a leap year": "&>0243672359",
    "expiry hour 24": "&>0260422400",
    "expiry minute 60": "&>0260422360",
    "expiry one short": EXPIRY.payload[:-1],
    "expiry one long": EXPIRY.payload + "0",
    # chain of identity
    "coi with its check character appended (old 18-character form)": OLD_COI,
    "coi with another character appended": COI.payload + "9",
    "coi one short": COI.payload[:-1],
    "coi letter in sequence": COI.payload[:-1] + "A",
    "coi facility starting O": "&/CHO999926000001",
    "eye-readable coi": COI.eye_readable,
    "coi lowercase ch": COI.payload.replace("CH", "ch"),
    "coi other literal": COI.payload.replace("CH", "CX"),
    # compound messages
    "compound header only": "=+04000",
    "compound header truncated": "=+0400",
    "compound identifier only": "=+",
    "compound header with letter count": "=+0A000" + BAG[7:],
    "bag declaring 3": "=+03000" + BAG[7:],
    "bag declaring 5": "=+05000" + BAG[7:],
    "bag declaring 0": "=+00000" + BAG[7:],
    "bag declaring 99": "=+99000" + BAG[7:],
    "bag under old reference 001": "=+04001" + BAG[7:],
    "assignment under old reference 002": "=+03002" + ASSIGNMENT[7:],
    "bag with iccbba reference": "=+04035" + BAG[7:],
    "assignment body declaring 4": "=+04000" + ASSIGNMENT[7:],
    "bag missing dose number": BAG[: -len(DOSE.payload)],
    "bag dose number repeated": BAG + DOSE.payload,
    "bag trailing character": BAG + "0",
    "bag one short": BAG[:-1],
    "bag with coi instead of dose number": message(DIN, PRODUCT, EXPIRY, COI),
    "bag with bad expiry": BAG.replace(EXPIRY.payload, "&>0260002359"),
    "bag with lowercase din": BAG.replace(DIN.payload, DIN.payload.lower()),
    "assignment with old coi": ASSIGNMENT.replace(COI.payload, OLD_COI),
    "assignment missing product": ASSIGNMENT[: -len(PRODUCT.payload)],
    "assignment with dose number added": ASSIGNMENT + DOSE.payload,
    "nested compound": "=+04000" + BAG,
    "compound with space between structures": BAG.replace("=<", " =<"),
    "two bag messages": BAG + BAG,
}


@pytest.mark.parametrize("payload", REJECTED.values(), ids=REJECTED.keys())
def test_parse_rejects(payload: object) -> None:
    with pytest.raises(Isbt128Error):
        parse(payload)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("=+03000" + BAG[7:], "8 unexpected character(s) after the declared 3 structures"),
        (BAG[: -len(DOSE.payload)], "declares 4 structures, found 3"),
        (BAG + DOSE.payload, "8 unexpected character(s) after the declared 4 structures"),
        ("=+04001" + BAG[7:], "reference 001 is not 000 (no defined order)"),
        (message(DIN, PRODUCT, DIN), "compound message repeats the DIN"),
        (message(PRODUCT, DIN, EXPIRY, COI),
         "neither a bag nor an assignment label: product code, DIN, expiry,"
         " chain of identity identifier"),
        (message(), "neither a bag nor an assignment label: nothing"),
        (ASSIGNMENT.replace(COI.payload, OLD_COI), "unrecognised data identifier '8='"),
        ("&>0253662359", "not a day of 2025"),
        (DIN.payload[:-1], "truncated DIN"),
        (DIN.payload + "0", "wrong length: 17 characters where the DIN has 16"),
        ("=A99992600012300\u00e9", "non-ASCII character at position 17"),
        ("=A9999 2600012300", "space or control character at position 7"),
        ("=" * 10_000, "too long (10000 characters)"),
    ],
    ids=repr,
)
def test_parse_says_what_is_wrong(payload: str, message: str) -> None:
    with pytest.raises(Isbt128Error, match=re.escape(message)):
        parse(payload)


# --- properties ---------------------------------------------------------------------------


def _din_strategy() -> st.SearchStrategy[Din]:
    @st.composite
    def dins(draw: st.DrawFn) -> Din:
        base = Din(
            draw(st.from_regex(r"[A-NP-Z1-9][0-9]{4}", fullmatch=True)),
            draw(st.integers(0, 99)),
            draw(st.integers(0, 999_999)),
        )
        type3 = f"{60 + MOD37_2_CHARS.index(base.check)}"
        other = st.from_regex(r"[0-9A-HJ-NPR-Y]{2}", fullmatch=True).filter(
            lambda flags: not (flags.isdigit() and 60 <= int(flags) <= 96)
        )
        flags = draw(st.one_of(st.just("00"), st.just(type3), other))
        return Din(base.facility, base.year, base.sequence, flags)

    return dins()


dins = _din_strategy()
products = st.builds(
    ProductCode,
    st.from_regex(r"[A-Z][0-9A-Z]{4}", fullmatch=True),
    st.from_regex(r"[0-9A-Za-z]", fullmatch=True),
    st.from_regex(r"[0-9A-Za-z]{2}", fullmatch=True),
)
dose_numbers = st.builds(DoseNumber, st.integers(0, 999_999))
expiries = st.builds(
    Expiry,
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2999, 12, 31, 23, 59),
        timezones=st.just(UTC),
    ).map(lambda at: at.replace(second=0, microsecond=0)),
)
cois = st.builds(
    Coi,
    st.from_regex(r"[A-NP-Z1-9][0-9]{4}", fullmatch=True),
    st.integers(0, 99),
    st.integers(0, 999_999),
)
structures = st.one_of(dins, products, dose_numbers, expiries, cois)
payloads = st.one_of(
    structures.map(lambda structure: structure.payload),
    st.builds(bag_compound, dins, products, expiries, dose_numbers),
    st.builds(assignment_compound, cois, dins, products),
)


@PROPERTY
@given(structures)
def test_any_valid_structure_round_trips_through_parse(structure: object) -> None:
    parsed = parse(structure.payload)  # type: ignore[attr-defined]
    assert parsed.structures == (structure,)
    assert parsed.kind == structure.kind  # type: ignore[attr-defined]


@PROPERTY
@given(dins, products, expiries, dose_numbers)
def test_any_bag_compound_round_trips_through_parse(
    din: Din, product: ProductCode, expiry: Expiry, dose_number: DoseNumber
) -> None:
    parsed = parse(bag_compound(din, product, expiry, dose_number))
    assert (parsed.kind, parsed.label) == ("compound", "bag")
    assert parsed.structures == (din, product, expiry, dose_number)


@PROPERTY
@given(cois, dins, products)
def test_any_assignment_compound_round_trips_through_parse(
    coi: Coi, din: Din, product: ProductCode
) -> None:
    parsed = parse(assignment_compound(coi, din, product))
    assert (parsed.kind, parsed.label) == ("compound", "assignment")
    assert parsed.structures == (coi, din, product)


@PROPERTY
@given(payloads)
def test_every_truncation_of_a_valid_payload_is_rejected(payload: str) -> None:
    for end in range(len(payload)):
        assert rejected(payload[:end]), payload[:end]


@PROPERTY
@given(payloads, st.data())
def test_a_dropped_or_extra_character_is_always_rejected(payload: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(payload)))
    extra = data.draw(st.sampled_from(MOD37_2_CHARS + "=&<>,+/"))
    assert rejected(payload[:position] + extra + payload[position:])
    if position < len(payload):
        assert rejected(payload[:position] + payload[position + 1:])


@PROPERTY
@given(cois, st.data())
def test_a_single_changed_character_in_a_keyed_coi_is_caught_by_its_boxed_check(
    coi: Coi, data: st.DataObject
) -> None:
    text = coi.code + coi.check
    position = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(st.sampled_from(MOD37_2_CHARS).filter(lambda c: c != text[position]))
    assert not carries_valid_check(text[:position] + other + text[position + 1:])


@PROPERTY
@given(cois)
def test_any_coi_with_its_check_character_encoded_is_rejected(coi: Coi) -> None:
    assert rejected(coi.payload + coi.check)


@PROPERTY
@given(st.one_of(
    st.tuples(dins, products, expiries, dose_numbers).map(lambda s: ("bag", s)),
    st.tuples(cois, dins, products).map(lambda s: ("assignment", s)),
), st.randoms(use_true_random=False))
def test_any_shuffled_compound_round_trips_through_parse(
    labelled: tuple[str, tuple], shuffler: random_module.Random
) -> None:
    label, structures = labelled
    order = list(structures)
    shuffler.shuffle(order)
    parsed = parse(message(*order))
    assert (parsed.kind, parsed.label) == ("compound", label)
    assert parsed.structures == tuple(order)
    assert parsed.payload == message(*order)


@st.composite
def mangled_payloads(draw: st.DrawFn) -> str:
    text = draw(payloads)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(MOD37_2_CHARS + "=&<>,+/ \r\n\tacho\x1d\u00e9"))
        edit = draw(st.sampled_from(["insert", "replace", "delete"]))
        if edit == "insert":
            text = text[:position] + char + text[position:]
        elif edit == "replace":
            text = text[:position] + char + text[position + 1:]
        else:
            text = text[:position] + text[position + 1:]
    return text


@PROPERTY
@given(st.one_of(st.text(), st.text("=&<>,+/CH0123456789AYVZO* \r\n", max_size=60),
                 mangled_payloads()))
def test_parse_either_rejects_or_returns_exactly_what_was_scanned(text: str) -> None:
    try:
        parsed = parse(text)
    except Isbt128Error:
        return
    assert parsed.payload == text.strip(string.whitespace)
