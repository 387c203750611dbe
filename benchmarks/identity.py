"""How well the identity keys find duplicates: recall and precision on the labelled set, and
the share of random different-children pairs the intake would flag.

``python -m benchmarks.identity`` prints the figures (``tests/cases/test_identity.py`` asserts
them). Everything runs in memory on the key formulas of ``cases/identity.py`` (the same keys
the database holds); no database is needed, only the blind-index key of the settings.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "identity_pairs.csv"

Identity = tuple[str, str, dt.date]


@dataclass
class LabelledResult:
    pairs: int = 0
    same: int = 0
    found: int = 0
    different: int = 0
    flagged_different: int = 0
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind: (hit, total)
    match_kinds: Counter[str] = field(default_factory=Counter)
    misses: list[tuple[str, Identity, Identity]] = field(default_factory=list)
    false_hits: list[tuple[str, Identity, Identity, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.same if self.same else 1.0

    @property
    def precision(self) -> float:
        flagged = self.found + self.flagged_different
        return self.found / flagged if flagged else 1.0


def load_pairs(path: Path = PAIRS) -> list[tuple[str, bool, Identity, Identity]]:
    with path.open(encoding="utf-8") as handle:
        return [
            (
                row["kind"],
                row["same"] == "1",
                (row["given_a"], row["family_a"], dt.date.fromisoformat(row["birth_a"])),
                (row["given_b"], row["family_b"], dt.date.fromisoformat(row["birth_b"])),
            )
            for row in csv.DictReader(handle)
        ]


def evaluate_labelled(path: Path = PAIRS) -> LabelledResult:
    """Type record a at the intake with record b stored: is b flagged, and how?"""
    from cases.identity import match_would_flag

    result = LabelledResult()
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for kind, same, a, b in load_pairs(path):
        result.pairs += 1
        match = match_would_flag(a, b)
        hits[kind][1] += 1
        if match is not None:
            hits[kind][0] += 1
            result.match_kinds[f"{kind}: {match.value}"] += 1
        if same:
            result.same += 1
            if match is not None:
                result.found += 1
            else:
                result.misses.append((kind, a, b))
        else:
            result.different += 1
            if match is not None:
                result.flagged_different += 1
                result.false_hits.append((kind, a, b, match.value))
    result.by_kind = {k: (v[0], v[1]) for k, v in sorted(hits.items())}
    return result


# --- random different children -----------------------------------------------------------


def benchmark_people(count: int, *, seed: int = 20260101, placeholders: float = 0.0) -> list:
    """Children drawn as ``benchmarks/generate.py`` draws them (names from its pools, ages 0
    to 20, a uniform day), ``placeholders`` of them with a 01.01. birth date."""
    from benchmarks.generate import FAMILY, GIVEN

    rng = random.Random(seed)
    today = dt.date(2026, 12, 1)
    people = []
    for _ in range(count):
        age = rng.randint(0, 20)
        birth = today - dt.timedelta(days=age * 365 + rng.randint(0, 364))
        if rng.random() < placeholders:
            birth = dt.date(birth.year, 1, 1)
        people.append((rng.choice(GIVEN), rng.choice(FAMILY), birth))
    return people


def demo_people() -> list[Identity]:
    """The demo's children with their birth dates as ``seed_demo`` computes them."""
    from demo.cases import FAMILIES

    today = dt.date(2026, 12, 1)
    people = []
    for family in FAMILIES:
        for child in family.children:
            if child.close_reason == "duplicate":
                continue  # the demo's deliberate duplicate: the same child, not a different one
            month, day = child.birthday
            people.append((child.given, family.name, dt.date(today.year - child.age, month, day)))
    return people


def flagged_pairs(people: list[Identity]) -> tuple[int, int, Counter[str]]:
    """How many of all pairs of ``people`` (different children) the intake would flag.

    Each person is typed once against all others stored: the stored keys go into one dict,
    each person's lookup keys are looked up in it (as the database's indexes would).
    """
    from cases.identity import case_keys, lookup_keys

    stored: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, (given, family, birth) in enumerate(people):
        for column, key in case_keys(given, family, birth).items():
            if key:
                stored[(column, key)].add(index)
    pairs: dict[tuple[int, int], str] = {}
    for index, (given, family, birth) in enumerate(people):
        for column, key, kind in lookup_keys(given, family, birth):
            for other in stored.get((column, key), ()):
                if other != index:
                    pair = (min(index, other), max(index, other))
                    pairs.setdefault(pair, kind.value)
    total = len(people) * (len(people) - 1) // 2
    return len(pairs), total, Counter(pairs.values())


def report(*, random_people: int = 20_000) -> dict[str, Any]:
    labelled = evaluate_labelled()
    out: dict[str, Any] = {
        "pairs": labelled.pairs,
        "same": labelled.same,
        "recall": labelled.recall,
        "precision": labelled.precision,
        "different": labelled.different,
        "flagged_different": labelled.flagged_different,
        "by_kind": labelled.by_kind,
        "misses": labelled.misses,
        "false_hits": labelled.false_hits,
    }
    for name, people in (
        ("demo", demo_people()),
        ("benchmark", benchmark_people(random_people)),
        ("benchmark_10pct_placeholders", benchmark_people(random_people, placeholders=0.1)),
        ("benchmark_all_placeholders", benchmark_people(random_people, placeholders=1.0)),
    ):
        flagged, total, kinds = flagged_pairs(people)
        out[f"random_{name}"] = {
            "people": len(people), "pairs": total, "flagged": flagged,
            "rate": flagged / total if total else 0.0, "kinds": dict(kinds),
        }  # fmt: skip
    return out


def format_report(figures: dict[str, Any]) -> str:
    lines = [
        f"labelled set: {figures['pairs']} pairs ({figures['same']} same child, "
        f"{figures['different']} different children)",
        f"  recall {figures['recall']:.3f}, precision {figures['precision']:.3f} "
        f"({figures['flagged_different']} different-children pairs flagged)",
    ]
    for kind, (hit, total) in figures["by_kind"].items():
        lines.append(f"    {kind:32} {hit:4}/{total:<4} flagged")
    for kind, a, b in figures["misses"]:
        lines.append(f"  missed ({kind}): {a} / {b}")
    for kind, a, b, match in figures["false_hits"]:
        lines.append(f"  flagged ({kind}, {match}): {a} / {b}")
    for key, value in figures.items():
        if key.startswith("random_"):
            lines.append(
                f"{key[7:]}: {value['flagged']} of {value['pairs']:,} random pairs flagged "
                f"({value['rate'] * 1000:.4f} per 1,000) {value['kinds']}"
            )
    return "\n".join(lines)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    print(format_report(report()))


if __name__ == "__main__":
    main()
