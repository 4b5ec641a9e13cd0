"""Number formats shared by the progress display and the tables."""

from __future__ import annotations

from typing import Protocol

NONE = "\N{EN DASH}"  # an absent figure; a hyphen would read as a minus sign


def percent(value: float | None, digits: int = 2) -> str:
    """An accuracy in [0, 1] as a percentage."""
    return NONE if value is None else f"{100.0 * value:.{digits}f}%"


def points(value: float | None) -> str:
    """An accuracy difference in percentage points, signed."""
    return NONE if value is None else f"{100.0 * value:+.2f} pts"


def count(value: float | None) -> str:
    """A parameter or MAC count with thousands separators."""
    return NONE if value is None else f"{value:,.0f}"


def share(value: float | None, whole: float | None) -> str:
    """``value`` with its share of ``whole`` (the unpruned model's figure)."""
    if value is None:
        return NONE
    if not whole:
        return count(value)
    return f"{count(value)} ({100.0 * value / whole:.1f}%)"


def duration(seconds: float | None) -> str:
    """Seconds as h:mm:ss, the way Rich's elapsed column shows time."""
    if seconds is None:
        return NONE
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Finalised(Protocol):
    """What a gain line reads of a candidate: a library Candidate or the client's model."""

    @property
    def number(self) -> int: ...
    @property
    def accuracy(self) -> float | None: ...
    @property
    def test_accuracy(self) -> float | None: ...


def gain_text(
    kind: str,
    base: Finalised | None,
    best: Finalised,
    gain: float | None,
    *,
    test_gain: float | None = None,
    label: str = "",
) -> str:
    """The best candidate's gain over the ``kind`` baseline, on validation (``gain``) and
    test data (``test_gain``; from the two candidates' test accuracies when not given, as
    for a job that finished before the server reported it).

    ``label`` follows the baseline's number inside the parentheses (e.g. its accuracy)."""
    if base is None:
        return f"Gain over {kind}: {NONE} (no {kind} baseline with a final fine-tune)"
    if base.number == best.number:
        return f"Gain over {kind}: none, the best is the {kind} baseline (#{base.number})"
    if test_gain is None and best.test_accuracy is not None and base.test_accuracy is not None:
        test_gain = best.test_accuracy - base.test_accuracy
    return f"Gain over {kind} (#{base.number}{label}): {points(gain)} val, {points(test_gain)} test"


def margin_line(kind: str, margin: float | None, se: float | None) -> str:
    """The best's paired margin over the best baseline (validation) with its 95% interval;
    "none" when the best (of kind ``kind``) is a baseline."""
    head = "Paired margin over the best baseline (val)"
    if kind != "search":
        return f"{head}: none, the best is the {kind} baseline"
    if margin is None:
        return f"{head}: {NONE}"
    if se is None:
        return f"{head}: {points(margin)} (no interval: one validation image)"
    half = 1.96 * se
    interval = f"95% CI {points(margin - half)} to {points(margin + half)}"
    return f"{head}: {points(margin)} ± {100.0 * half:.2f}, {interval}"


def margin_text(margin: float | None, se: float | None) -> str:
    """A finalist's paired margin over the best baseline in points, with its 95% interval's
    half-width (1.96 standard errors)."""
    if margin is None:
        return NONE
    spread = "" if se is None else f" ± {100.0 * 1.96 * se:.2f}"
    return f"{100.0 * margin:+.2f}{spread}"
