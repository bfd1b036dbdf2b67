"""Claim detectors for one sentence: each yields (kind, start, end) for claims the facts do not back.

Lexicons live in vocabulary.py; `Support` says what backs a word or a phrase. Detection is deliberately
lexical: a claim a merchandiser must check is nearly always a named thing (a number, a place, a
certification, a feature), and a missed vague adjective costs less than a flagged true sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from catalog_writer.quality import vocabulary as V
from catalog_writer.quality.house import HousePhrases
from catalog_writer.quality.numbers import NUMBER_CLAIM, number_word_claims, unit_name
from catalog_writer.quality.support import Support, root
from catalog_writer.quality.text import SIZE_RE, STOP, TOKEN, expand_sizes, fold
from catalog_writer.quality.text import norm_number, stem, values

Found = tuple[str, int, int]
_FILLER = STOP | V.CARE_FILLER | {"made", "make", "by", "per", "a", "times", "company", "brand", "friendly",
                                   "called", "named", "known", "as", "can", "may", "should", "be", "keep", "keeps",
                                   "you", "your"}
_COLOUR_CUE = re.compile(r"\b(?:colou?rs?|shades?|hues?|tones?|dyed|comes? in|available in|choose|pick)\b", re.I)
_NATION_PLACES = {"british": {"uk", "britain"}, "english": {"england", "uk"}, "scottish": {"scotland", "uk"},
                  "welsh": {"wales", "uk"}, "irish": {"ireland"}, "italian": {"italy"}, "french": {"france"},
                  "portuguese": {"portugal"}, "spanish": {"spain"}, "peruvian": {"peru"}, "japanese": {"japan"}}
_OPTIONS = re.compile(r"\b(?:different|various|variety of|range of|choice of|selection of|several|multiple)\s+"
                      r"(?:\w+\s+)?(colou?rs|shades|styles|patterns|designs|sizes|scents|finishes)\b", re.I)
_OPTION_NOUN = re.compile(r"\s+(?:\w+\s+)?(?:sizes|colou?rs|shades|styles|options|scents|finishes|patterns)\b", re.I)
_WASHED = re.compile(r"\bwash\w*\W+(?:\w+\W+){0,2}$", re.IGNORECASE)
_SENTENCE_WORDS = {"i", "i'm", "i've", "i'll", "i'd"}
_OPENERS = STOP | {"this", "these", "those", "each", "every", "all", "some", "any", "my", "his", "her", "their",
                   "new", "meet", "introducing", "discover", "say", "try", "shop", "choose", "our", "your", "why",
                   "when", "with", "made", "crafted", "woven", "knitted", "sewn", "designed", "classic", "premium"}
_DISCOURSE = {"however", "yes", "no", "alright", "plus", "finally", "additionally", "moreover", "indeed",
              "meanwhile", "overall", "welcome", "instead", "otherwise", "today", "now", "also", "inside",
              "outside", "together", "first", "second", "third", "next", "then", "still", "again", "well",
              "sure", "oh", "hi", "hello", "ok", "okay", "so", "yet", "besides", "therefore", "thus",
              "hence", "sometimes", "often", "once", "later", "soon", "here", "there", "whether", "although",
              "though", "while", "since", "because", "unlike", "like", "after", "before", "soft", "warm"}
_CONTRACTED = {"what", "that", "there", "here", "who", "he", "she", "let", "where", "how", "everything",
               "nothing", "something", "today", "now", "life", "winter", "summer"}


def _alternation(patterns) -> re.Pattern:
    return re.compile(r"(?<![\w-])(?:" + "|".join(patterns) + r")(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern]:
    verbs = "|".join(V.ORIGIN_VERBS)
    place = r"[A-Z][\w'’-]*"
    return {
        "certification": _alternation(V.CERTIFICATIONS),
        "care": _alternation(V.CARE + (V.FREQUENCY,)),
        "care-often": _alternation(V.CARE_OFTEN),
        "warranty": _alternation(V.WARRANTY),
        "provenance": _alternation(V.PROVENANCE),
        "content": _alternation(V.PROPERTIES + (r"[\w-]+[®™]",)),
        "origin": re.compile(rf"\b(?i:{verbs})\s+in\s+(?:the\s+)?({place}(?:(?:\s+|,\s*|\s+and\s+)(?:the\s+)?"
                             rf"{place})*)"),
        "material": _alternation(re.escape(p) for p in V.MATERIAL_PHRASES),
    }


def _tokens(sentence: str) -> list[tuple[str, int, int]]:
    """(folded canonical word, start, end) for each word of the sentence."""
    out = []
    for m in TOKEN.finditer(sentence):
        w = fold(m.group())
        out.append((norm_number(w) if w[0].isdigit() else V.SYNONYMS.get(w, w), m.start(), m.end()))
    return out


def _phrase_claims(sentence: str, support: Support) -> Iterator[Found]:
    """Certification, care, warranty, provenance, property and material-phrase matches whose key words
    do not occur together in one fact or the title."""
    care = [m.span() for m in _patterns()["care"].finditer(sentence)]
    for name in ("certification", "care", "care-often", "warranty", "provenance", "content", "material"):
        kind = name.split("-")[0]
        for m in _patterns()[name].finditer(sentence):
            if kind == "provenance" and (any(a <= m.start() and m.end() <= b for a, b in care)
                                         or _WASHED.search(sentence[: m.start()])):
                continue  # "wash it by hand", "hand washed by hand" are care, checked as such
            keys = {root(w) for w, _, _ in _tokens(m.group()) if w not in _FILLER and not w[0].isdigit()}
            if kind == "material":
                keys = {k for k in keys if not support.has_word(k)}  # "soy wax": the soy is the claim
            if keys and not support.backs_phrase(keys, making=kind == "provenance"):
                yield kind, m.start(), m.end()


def _counts_values(sentence: str, end: int, number: str, support: Support) -> bool:
    """"2 sizes", "three colours": a count of a fact's values, backed when a fact has that many."""
    return number in support.value_counts and bool(_OPTION_NOUN.match(sentence, end))


def _backs_number(support: Support, num: str, unit: str | None) -> bool:
    """A number is backed when the facts state it; with a unit, when they state it with that unit or with
    none ("130" of "130 x 180 cm"): "40%" is not backed by "Machine wash 40°C"."""
    if num not in support.numbers:
        return False
    return unit is None or (num, unit) in support.quantities or (num, None) in support.quantities


def _number_claims(sentence: str, support: Support) -> Iterator[Found]:
    for m in NUMBER_CLAIM.finditer(sentence):
        num, unit = norm_number(m.group(1)), m.group(2)
        if m.start() == 0 and re.match(r"[.)](?:\s|$)", sentence[m.end():]):
            continue  # "1." / "2)" numbering a list
        if not unit and _counts_values(sentence, m.end(), num, support):
            continue
        if num == "100" and unit == "%" and len(support.materials) <= 1:
            continue  # "100% merino wool" is true of a one-material product; the material is checked apart
        if not _backs_number(support, num, unit_name(unit)):
            yield "number", m.start(), m.end()
    for a, b, value, unit in number_word_claims(sentence):
        if _counts_values(sentence, b, value, support):
            continue
        if not _backs_number(support, value, unit) and not support.has_word(fold(sentence[a:b])):
            yield "number", a, b


def _option_claims(sentence: str, support: Support) -> Iterator[Found]:
    """"Choose from different colours" when the product comes in one: options the facts do not list."""
    for m in _OPTIONS.finditer(sentence):
        noun = m.group(1).lower().rstrip("s").replace("color", "colour")
        alternatives = {"colour": ("colour", "color"), "design": ("design", "style", "pattern")}.get(noun, (noun,))
        counts = [len(values(v)) for k, v in support.facts.items() if any(a in k.lower() for a in alternatives)]
        if not any(c > 1 for c in counts):
            yield "content", m.start(), m.end()


def _size_claims(sentence: str, support: Support) -> Iterator[Found]:
    extra = expand_sizes(sentence) - support.sizes
    if extra:
        for m in re.finditer(r"\S+", sentence):
            if expand_sizes(m.group()) & extra:
                yield "size", m.start(), m.start() + len(m.group().rstrip(".,;:!?)"))
    low = fold(sentence)
    for phrase in V.SIZE_PHRASES:
        for m in re.finditer(rf"\b{re.escape(phrase)}\b", low):
            if phrase not in support.folded:
                yield "size", m.start(), m.end()


def _word_claims(sentence: str, support: Support, house: HousePhrases | None) -> Iterator[Found]:
    """Single words: materials, colours, shade names in a colour context, scents, nations, features, names."""
    toks = _tokens(sentence)
    scent_context = any(w in V.SCENT_CUES for w, _, _ in toks)
    colour_context = bool(_COLOUR_CUE.search(sentence)) or sum(w in V.COLOURS for w, _, _ in toks) >= 2
    first_alpha = next((i for i, (w, _, _) in enumerate(toks) if w[0].isalpha()), None)
    for i, (w, a, b) in enumerate(toks):
        if w[0].isdigit() or support.has_word(w):
            continue
        if w in V.SCENTS and scent_context:
            yield "scent", a, b
        elif w in V.MATERIALS:
            yield "material", a, b
        elif w in V.COLOURS or (w in V.EXTRA_COLOURS and colour_context):
            yield "colour", a, b
        elif w in V.NATIONALITIES and not (_NATION_PLACES.get(w, set()) & support.words):
            yield "origin", a, b
        elif w in V.FEATURES and not any(x.startswith(root(w)) for x in support.words if len(root(w)) > 3):
            yield "content", a, b
        elif _is_name(sentence, toks, i, first_alpha, support) and not (house and sentence[a:b] in house.names):
            yield "content", a, b


def _is_name(sentence: str, toks, i: int, first_alpha: int | None, support: Support) -> bool:
    """A capitalised word inside a sentence (or a possessive opening one) that is not a plain word."""
    w, a, b = toks[i]
    text = sentence[a:b]
    if not text[:1].isupper() or w in _SENTENCE_WORDS or SIZE_RE.fullmatch(text) or len(text) < 3:
        return False
    if i == first_alpha:  # "Ghilly's cottage" is a name; "What's more" and "It's" are not
        if sentence[b : b + 2] in ("'s", "’s"):
            return w not in STOP and w not in _CONTRACTED
        # "Bark: Natural." / "Athletic: Thistle Work Apron": an unknown word used as a field label names
        # something the facts do not have (field names and the facts' own words are known)
        if (sentence[b : b + 1] == ":" and w not in V.LABELS and w not in _OPENERS and w not in _DISCOURSE
                and not w.endswith("ing")):  # "Breathing:" labels a property, it names nothing
            return True
        # "Spartakos, the world's most advanced...": an unknown word named in apposition (an article follows;
        # "Awkward, but..." is an adjective)
        if (sentence[b : b + 1] == "," and w not in _OPENERS and w not in _DISCOURSE and not w.endswith("ly")
                and re.match(r",\s+(?:the|a|an|our|your|its|this)\b", sentence[b:], re.IGNORECASE)):
            return True
        # "Merciline Rib Beanie" for the Merlin Rib Beanie: an unknown word opening a run of title words
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        return bool(nxt and w not in _OPENERS and sentence[nxt[1]:nxt[2]][:1].isupper() and nxt[0] not in STOP
                    and support.has_word(nxt[0]) and sentence[b:nxt[1]] == " ")
    before = sentence[:a].rstrip()
    return not before.endswith((":", "(", "-", "–", "—", "•", "*"))  # a label or a list item opens here


def _leak_claims(sentence: str, support: Support) -> Iterator[Found]:
    """Exemplar values the product does not have, found in the sentence."""
    if not (support.leak_values or support.leak_names):
        return
    toks = _tokens(sentence)
    forms = [{w, w[:-1] if w.endswith("s") else w} for w, _, _ in toks]  # "stripes" ~ "stripe"
    present = set().union(*forms) if forms else set()
    for new in support.leak_values:
        hits = [(a, b) for (w, a, b), f in zip(toks, forms) if f & new]
        if hits and new <= present:
            yield "leakage", hits[0][0], hits[-1][1]
    for name in support.leak_names:
        for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sentence):
            yield "leakage", m.start(), m.end()


def find(sentence: str, support: Support, house: HousePhrases | None = None) -> list[Found]:
    """Every unsupported claim in one sentence (overlaps are merged by the caller)."""
    found: list[Found] = []
    found += _phrase_claims(sentence, support)
    found += _number_claims(sentence, support)
    found += _size_claims(sentence, support)
    found += _option_claims(sentence, support)
    found += _word_claims(sentence, support, house)
    found += _leak_claims(sentence, support)
    for m in _patterns()["origin"].finditer(sentence):
        place = [w for w, _, _ in _tokens(m.group(1)) if w not in STOP]
        if place and not all(support.has_word(w) for w in place):
            found.append(("origin", m.start(), m.end()))
    return found


def house_chars(sentence: str, house: HousePhrases) -> set[int]:
    """Character offsets of the sentence that lie inside one of the brand's house phrases."""
    toks = _tokens(sentence)
    covered = house.covered_words([stem(w) for w, _, _ in toks])
    chars: set[int] = set()
    for i in sorted(covered):
        _, a, b = toks[i]
        end = toks[i + 1][1] if i + 1 in covered else b  # the gap between two covered words is covered too
        chars.update(range(a, end))
    return chars
