"""Phone numbers: validation, the stored normal form and the mask shown to people."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
_SPACES = re.compile(r"[\s]+")
_PREFIXES = ("+86", "0086")


class PhoneError(ValueError):
    pass


def normalize(raw: str) -> str:
    """Digits only, without a +86/0086 prefix; raises PhoneError when it is no Chinese phone.

    A mainland mobile is ``1[3-9]`` and 9 more digits; a landline is ``0``, a
    2-3 digit area code, an optional ``-`` and 7-8 digits.
    """
    value = _SPACES.sub("", raw)
    for prefix in _PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix) :]
            # "+86 10 1234 5678": the trunk 0 is dropped in international form.
            if not _MOBILE.fullmatch(value) and not value.startswith("0"):
                value = "0" + value
            break
    if _MOBILE.fullmatch(value) or _LANDLINE.fullmatch(value):
        return value.replace("-", "")
    raise PhoneError(
        "must be a mainland mobile (1[3-9] and 9 digits) or a landline (0, area code, 7-8 digits)"
    )


def mask(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: 13800000000 -> 138****0000."""
    if phone is None:
        return None
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"
