"""Custody parties: parsed, written back unchanged, said in words, placed at a site. Pure."""
import pytest

from cell_chain.shipments.parties import Party


@pytest.mark.parametrize("text", ["lab:A9999", "courier:Cold Chain Ltd", "pharmacy:LZ", "ward:LZ:nurse1",
                                  "patient:LZ-0001", "destroyed:LZ", "something else"])
def test_a_party_is_written_back_as_it_was_read(text):
    assert str(Party.parse(text)) == text


def test_the_built_parties_are_the_ledgers_shapes():
    assert str(Party.ward("LZ", "nurse1")) == "ward:LZ:nurse1"
    assert str(Party.courier("  Cold  ")) == "courier:Cold"
    assert Party.parse("ward:LZ:nurse1") == Party("ward", "LZ", "nurse1")


def test_held_at_a_site_means_its_pharmacy_or_one_of_its_wards():
    assert Party.parse("pharmacy:LZ").held_at_site("LZ")
    assert Party.parse("ward:LZ:nurse1").held_at_site("LZ")
    assert not Party.parse("ward:LZX:nurse1").held_at_site("LZ")
    assert not Party.parse("pharmacy:BJ").held_at_site("LZ")
    assert not Party.parse("courier:LZ").held_at_site("LZ")
    assert not Party.parse("destroyed:LZ").held_at_site("LZ")
    assert not Party.parse("pharmacy:LZ").held_at_site(None)


def test_words_name_the_nurse_by_printed_name_when_known():
    assert Party.parse("ward:LZ:nurse1").words({"nurse1": "Li Na"}) == "LZ ward, nurse Li Na"
    assert Party.parse("ward:LZ:nurse1").words() == "LZ ward, nurse nurse1"
    assert Party.parse("lab:A9999").words() == "GMP lab (A9999)"
    assert Party.parse("destroyed:LZ").words(phrasing={"destroyed": "gone at {name}"}) == "gone at LZ"
