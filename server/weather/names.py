"""What a name may hold: visible text. Control characters, format characters (bidi overrides such
as U+202E, zero-width spaces and joiners, the byte order mark) and unassigned code points are
refused: they make one name display as another in the dashboard, the admin and exported files."""

import unicodedata

_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


def name_refused_characters(text: str) -> list[str]:
    """The refused characters of `text`, as U+XXXX, in order of first appearance."""
    if text.isprintable():  # str.isprintable is false for every refused category: the usual case, in C
        return []
    found = dict.fromkeys(f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES)
    return list(found)
