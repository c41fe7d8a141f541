"""Optional spelling correction of recognised text, word by word, with autocorrect."""

import re
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


@lru_cache(maxsize=1)
def _speller():
    from autocorrect import Speller

    return Speller("en", only_replacements=False)


def correct(text: str) -> str:
    """Correct each alphabetic word; punctuation, digits and spacing stay as they are.

    Capitalised words keep their capital; words with inner capitals (acronyms, MPs) are left alone.
    """
    speller = _speller()

    def fix(match: re.Match) -> str:
        word = match.group(0)
        if len(word) < 2 or any(c.isupper() for c in word[1:]):
            return word
        fixed = speller(word.lower())
        if word[0].isupper():
            fixed = fixed[:1].upper() + fixed[1:]
        return fixed

    return _WORD.sub(fix, text)
