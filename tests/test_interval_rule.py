"""Every report caption and document states the same interval rule as the code: intervals over test
trials from MIN_TRIALS_FOR_INTERVAL (10) trials on, none below."""

import re
from pathlib import Path

from sospine.statistics import MIN_TRIALS_FOR_INTERVAL

ROOT = Path(__file__).resolve().parents[1]
WORDS = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12}
NUMBER = r"(\d+|" + "|".join(WORDS) + r")"
# how a text states a minimum number of trials: "from 10 test trials on", "fewer than 3 test trials",
# "below 10 of them", "at least 10", "with under 10 trials"
RULE = re.compile(
    rf"\b(?:from {NUMBER} (?:test |pooled )?trials on|(?:fewer than|below|under|at least) {NUMBER}\b(?! surgeons))",
    re.IGNORECASE,
)
INTERVAL = re.compile(r"interval|ci95|\bCI\b", re.IGNORECASE)


def texts() -> list[Path]:
    paths = sorted((ROOT / "workflow" / "report").glob("*.rst")) + sorted((ROOT / "docs").glob("*.md"))
    return [*paths, ROOT / "README.md", ROOT / "config" / "README.md"]


def sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return re.split(r"(?<=[.;:!?])\s+(?=[A-Z`(*])", flat)


def stated_minimums(sentence: str) -> list[int]:
    out = []
    for match in RULE.finditer(sentence):
        word = next(g for g in match.groups() if g)
        out.append(WORDS.get(word.lower()) or int(word))
    return out


def test_the_rule_is_found_where_it_is_stated():
    assert stated_minimums("intervals appear from 10 test trials on") == [10]
    assert stated_minimums("(left empty with fewer than 3 test trials, which give too few resamples)") == [3]
    assert stated_minimums("below 10 of them there is no interval") == [10]
    assert stated_minimums("a feature set with fewer than 8 trials or 3 surgeons") == [8]  # not an interval
    assert sentences("An interval. From 3 trials on. Another one") == [
        "An interval.",
        "From 3 trials on.",
        "Another one",
    ]


def test_every_caption_and_document_gives_intervals_from_10_test_trials():
    wrong, stated = [], 0
    for path in texts():
        for sentence in sentences(path.read_text(encoding="utf-8")):
            if not INTERVAL.search(sentence):
                continue
            for minimum in stated_minimums(sentence):
                stated += 1
                if minimum != MIN_TRIALS_FOR_INTERVAL:
                    wrong.append(f"{path.relative_to(ROOT)}: {sentence[:200]}")
    assert not wrong, "\n".join(wrong)
    assert stated >= 8  # the rule is stated across the report and the documents, not found nowhere


def test_the_scores_caption_states_the_rule():
    caption = (ROOT / "workflow" / "report" / "ap_per_class.rst").read_text(encoding="utf-8")
    assert f"from {MIN_TRIALS_FOR_INTERVAL} test trials on" in caption and "fewer than 3" not in caption
