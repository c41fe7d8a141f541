"""Text normalisation: IAM tokenisation to text as written, and spacing for scoring."""

import re

_ATTACH_LEFT = re.compile(r"^(?:[.,;:?!)\]%]+|'(?:s|t|d|m|ll|re|ve)|n't)$", re.IGNORECASE)
_QUOTES = {'"', "'"}
_PUNCT = re.compile(r"([^\w\s])")


def detokenize(tokenised: str) -> str:
    """Undo IAM's tokenisation: ``Mr . Gaitskell`` -> ``Mr. Gaitskell``.

    Handwriting has no spaces before punctuation, so the model must learn the text as
    written. Straight quotes alternate between opening (attach right) and closing
    (attach left), which is how IAM transcribers use them.
    """
    out = ""
    attach_next = False
    open_quote = {q: False for q in _QUOTES}
    for token in tokenised.split():
        if token in _QUOTES:
            if open_quote[token]:
                out += token
                open_quote[token] = False
            else:
                out += (" " if out else "") + token
                attach_next = True
                open_quote[token] = True
            continue
        if out and (attach_next or _ATTACH_LEFT.match(token)):
            out += token
        else:
            out += (" " if out else "") + token
        attach_next = token in {"(", "["}
    return out


def normalize_for_scoring(text: str) -> str:
    """Put every punctuation mark between spaces and collapse runs of space.

    Both reference and hypothesis go through this, so ``Mr . Gaitskell`` and
    ``Mr. Gaitskell`` score as equal (the evaluation convention of the data README).
    """
    return " ".join(_PUNCT.sub(r" \1 ", text).split())
