"""Who holds a dose: the custody parties the ledger records, as one value. Stored as text
(`lab:A9999`, `courier:ColdChain`, `pharmacy:LZ`, `ward:LZ:nurse1`, `patient:LZ-0001`,
`destroyed:LZ`); everything that reads or writes one goes through `Party`."""
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext

from cell_chain.web.words import N_

KINDS = ("lab", "courier", "pharmacy", "ward", "patient", "destroyed")
# Parties at a hospital: the site's pharmacy and its wards (`ward:<site>:<nurse>`).
SITE_PREFIX, WARD_PREFIX, COURIER_PREFIX, LAB_PREFIX = "pharmacy:", "ward:", "courier:", "lab:"

WORDS = {"lab": N_("GMP lab ({name})"), "courier": N_("Courier {name}"), "pharmacy": N_("{name} site pharmacy"),
         "ward": N_("{name} ward, nurse {nurse}"), "patient": N_("In patient {name}"),
         "destroyed": N_("Destroyed at {name}")}


@dataclass(frozen=True)
class Party:
    kind: str
    name: str  # the facility, courier, site code or subject ID
    nurse: str | None = None  # a ward party's nurse (username)

    @classmethod
    def parse(cls, text: str) -> "Party":
        kind, _, rest = text.partition(":")
        if kind == "ward":
            site, _, nurse = rest.partition(":")
            return cls(kind, site, nurse)
        return cls(kind if kind in KINDS else "", rest if kind in KINDS else text)

    @classmethod
    def lab(cls, facility: str) -> "Party":
        return cls("lab", facility)

    @classmethod
    def courier(cls, name: str) -> "Party":
        return cls("courier", name.strip())

    @classmethod
    def pharmacy(cls, site_code: str) -> "Party":
        return cls("pharmacy", site_code)

    @classmethod
    def ward(cls, site_code: str, nurse: str) -> "Party":
        return cls("ward", site_code, nurse)

    @classmethod
    def patient(cls, subject_id: str) -> "Party":
        return cls("patient", subject_id)

    @classmethod
    def destroyed(cls, site_code: str) -> "Party":
        return cls("destroyed", site_code)

    def __str__(self) -> str:
        if self.kind == "ward":
            return f"ward:{self.name}:{self.nurse}"
        return f"{self.kind}:{self.name}" if self.kind else self.name

    def held_at_site(self, site_code: str | None) -> bool:
        """The dose is in this hospital's custody: its pharmacy or one of its wards."""
        return site_code is not None and self.kind in ("pharmacy", "ward") and self.name == site_code

    def words(self, people: Mapping[str, str] | None = None, *,
              phrasing: Mapping[str, str] | None = None) -> str:
        """As people say it; a ward nurse by printed name when `people` (username → name)
        knows them. `phrasing` rewords some kinds for a page (the trace says where a dose is)."""
        template = (phrasing or WORDS).get(self.kind)
        if template is None:
            return self.name
        return gettext(template).format(name=self.name, nurse=(people or {}).get(self.nurse or "", self.nurse))
