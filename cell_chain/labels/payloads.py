"""The exact payloads a dose's labels encode, built from its record (one place, so the
printed label, the API and the verification all agree)."""
from dataclasses import dataclass
from datetime import datetime

from cell_chain.batches.models import Dose, din_from_code
from cell_chain.core.isbt128 import Din, DoseNumber, Expiry, ProductCode, bag_compound

COLLECTION_TYPE = "V"  # volunteer allogeneic (DESIGN §2)


@dataclass(frozen=True)
class BagPayloads:
    din: Din
    product: ProductCode
    dose_number: DoseNumber
    expiry: Expiry

    @property
    def compound(self) -> str:
        return bag_compound(self.din, self.product, self.expiry, self.dose_number)

    def as_dict(self) -> dict[str, str]:
        return {"din": self.din.payload, "product": self.product.payload, "compound": self.compound}


def bag_payloads(dose: Dose) -> BagPayloads:
    return BagPayloads(
        din=din_from_code(dose.lot.din),
        product=ProductCode(description_code=dose.lot.product_code, collection_type=COLLECTION_TYPE,
                            division=dose.division),
        dose_number=DoseNumber(number=dose.number),
        expiry=Expiry(at=dose.expires_at),
    )


def printed_bag_compound(dose: Dose, expiry_at: datetime) -> str:
    """The bag compound as printed with a given expiry (the label printed before a thaw)."""
    payloads = bag_payloads(dose)
    return bag_compound(payloads.din, payloads.product, Expiry(at=expiry_at), payloads.dose_number)
