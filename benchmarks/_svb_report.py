"""search_vs_baselines' figures from its raw data, and the markdown file."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from _svb_stats import mean_sd, paired_difference, recovered, spearman, wins

Json = dict[str, Any]
BASELINES = ("uniform", "global", "sensitivity")
SEARCHES = ("random", "tpe", "old-tpe")
ARMS = BASELINES + SEARCHES


def baseline_of(run: Json, kind: str) -> Json | None:
    """The ``kind`` baseline of a run's leaderboard, after its final fine-tune."""
    return next(
        (c for c in run["leaderboard"] if c["kind"] == kind and c.get("accuracy") is not None),
        None,
    )


def arm_result(seed_data: Json, arm: str) -> Json | None:
    """The arm's chosen model in one seed: test and val accuracy, what it was, its CPU."""
    runs = seed_data["runs"]
    if arm in BASELINES:
        c = baseline_of(runs["tpe"], arm)
        cpu = None
    elif arm in runs:
        c, cpu = runs[arm]["best"], runs[arm]["cpu_s"]
    else:
        return None
    if c is None or c.get("test_accuracy") is None:
        return None
    return {
        "test": c["test_accuracy"],
        "val": c["accuracy"],
        "chosen": f"{c['kind']}#{c['number']}",
        "baseline": c["kind"] != "search",
        "cpu": cpu,
        "stage_s": sum((c.get("timings") or {}).values()),
    }


def paired(cell: Json, arm: str, other: str) -> tuple[list[float], list[float], list[float]]:
    """Test accuracies of ``arm``, ``other`` and the unpruned model, over the seeds where
    both arms have one."""
    a, b, u = [], [], []
    for seed_data in cell["seeds"]:
        x, y = arm_result(seed_data, arm), arm_result(seed_data, other)
        if x is not None and y is not None:
            a.append(x["test"])
            b.append(y["test"])
            u.append(seed_data["reference"]["test_accuracy"])
    return a, b, u


def arm_row(cell: Json, arm: str) -> str | None:
    results = [r for s in cell["seeds"] if (r := arm_result(s, arm)) is not None]
    if not results:
        return None
    a, uni, unpruned = paired(cell, arm, "uniform")
    ar, rnd, _ = paired(cell, arm, "random")
    cpu = [r["cpu"] for r in results if r["cpu"] is not None]
    chose = sum(r["baseline"] for r in results) if arm in SEARCHES else None
    cells = [
        arm,
        mean_sd([r["test"] for r in results], 100),
        paired_difference(a, uni).text(100) if arm != "uniform" else "-",
        recovered(a, uni, unpruned).text() if arm != "uniform" else "0 (by definition)",
        wins(a, uni) if arm != "uniform" else "-",
        paired_difference(ar, rnd).text(100) if arm != "random" else "-",
        wins(ar, rnd) if arm != "random" else "-",
        "-" if chose is None else f"{chose}/{len(results)}",
        f"{statistics.mean(cpu):.0f}" if cpu else "(inside each run)",
    ]
    return "| " + " | ".join(cells) + " |"


def arms_table(cell: Json) -> str:
    head = [
        "| arm | test acc % (mean ± sd) | minus uniform, pts [95% CI] | recovered [95% CI] "
        "| wins vs uniform | minus random, pts [95% CI] | wins vs random | best was a baseline "
        "| CPU s per seed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [row for arm in ARMS if (row := arm_row(cell, arm)) is not None]
    unpruned = [s["reference"]["test_accuracy"] for s in cell["seeds"]]
    rows.append(f"| unpruned | {mean_sd(unpruned, 100)} | | | | | | | |")
    return "\n".join(head + rows)


def noise_lines(cell: Json) -> list[str]:
    """The noise floor: one policy (uniform), several fine-tune seeds."""
    noise = cell["noise"]
    tests = [r["test"] for r in noise["runs"]]
    first = cell["seeds"][0]
    gap = first["reference"]["test_accuracy"] - tests[0]
    sd = statistics.stdev(tests) if len(tests) > 1 else None
    lines = [
        "uniform policy, fine-tune seeds "
        + ", ".join(f"{r['seed']}: test {r['test'] * 100:.2f}%" for r in noise["runs"]),
        f"sd over seeds: {'n/a' if sd is None else f'{sd * 100:.2f} pts'}; "
        f"unpruned - uniform gap (seed {first['seed']}): {gap * 100:.2f} pts"
        + ("" if sd is None or gap <= 0 else f"; sd / gap = {sd / gap:.2f}"),
    ]
    ran = arm_result(first, "uniform")
    if ran is not None:
        same = abs(noise["runs"][0]["val"] - ran["val"]) < 1e-9
        lines.append(
            f"recipe check: the standalone fine-tune with seed {noise['runs'][0]['seed']} "
            f"gives val {noise['runs'][0]['val'] * 100:.2f}%, the tpe run's uniform final "
            f"{ran['val'] * 100:.2f}% ({'identical' if same else 'they differ'})"
        )
    return lines


def rank_lines(cell: Json) -> list[str]:
    rank = cell["rank"]
    if rank is None:
        return []
    screen = [r["screen"] for r in rank["runs"]]
    val, test = [r["val"] for r in rank["runs"]], [r["test"] for r in rank["runs"]]

    def rho(values: Sequence[float]) -> str:
        found = spearman(screen, values)
        return "n/a" if found is None else f"{found:.2f}"

    return [
        f"{len(screen)} random screened candidates of the random run (seed {rank['seed']}), "
        f"each given the final recipe with seed {rank['seed']}: Spearman(screening score, "
        f"final val) = {rho(val)}, Spearman(screening score, final test) = {rho(test)}; "
        f"screening scores {min(screen, default=0) * 100:.1f}-{max(screen, default=0) * 100:.1f}%, "
        f"final val {min(val, default=0) * 100:.2f}-{max(val, default=0) * 100:.2f}% "
        f"({rank['cpu_s']:.0f} s CPU)"
    ]


def seeds_table(cell: Json) -> str:
    lines = [
        "| seed | unpruned | " + " | ".join(ARMS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ARMS) + " |",
    ]
    for s in cell["seeds"]:
        cells = []
        for arm in ARMS:
            r = arm_result(s, arm)
            text = "-" if r is None else f"{r['test'] * 100:.2f}"
            cells.append(text if r is None or arm in BASELINES else f"{text} ({r['chosen']})")
        ref = s["reference"]["test_accuracy"] * 100
        lines.append(f"| {s['seed']} | {ref:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def agreement(cell: Json) -> list[str]:
    """Baselines whose test accuracy differs between the tpe and the random run of a seed."""
    out = []
    for s in cell["seeds"]:
        for kind in BASELINES:
            a, b = baseline_of(s["runs"]["tpe"], kind), baseline_of(s["runs"]["random"], kind)
            ta = None if a is None else a.get("test_accuracy")
            tb = None if b is None else b.get("test_accuracy")
            if ta != tb:
                out.append(f"seed {s['seed']} {kind}: tpe run {ta}, random run {tb}")
    return out


def cpu_ratio(cell: Json) -> list[str]:
    """The default search's CPU time against the old single-stage search's, per seed."""
    pairs = [
        s["runs"]["tpe"]["cpu_s"] / s["runs"]["old-tpe"]["cpu_s"]
        for s in cell["seeds"]
        if "old-tpe" in s["runs"]
    ]
    if not pairs:
        return []
    return [f"CPU time of the tpe run / the old-tpe run, per seed: {mean_sd(pairs)}"]


def cost_table(data: Json) -> str:
    """CPU seconds this run spent, by kind of job (for sizing other runs)."""
    jobs: dict[str, list[float]] = {}
    for cell in data["cells"]:
        jobs.setdefault("noise floor (per cell)", []).append(cell["noise"]["cpu_s"])
        if cell["rank"] is not None:
            jobs.setdefault("rank correlation (per cell)", []).append(cell["rank"]["cpu_s"])
        for s in cell["seeds"]:
            for name, run in s["runs"].items():
                jobs.setdefault(f"{name} run", []).append(run["cpu_s"])
    refs = {(c["model"], s["seed"]): s["reference"] for c in data["cells"] for s in c["seeds"]}
    trained = [r["cpu_s"] for r in refs.values() if not r["cached"]]
    if trained:
        jobs["reference training"] = trained
    lines = ["| job | count | CPU s, mean | CPU s, total |", "| --- | --- | --- | --- |"]
    for name, cpu in jobs.items():
        lines.append(f"| {name} | {len(cpu)} | {statistics.mean(cpu):.0f} | {sum(cpu):.0f} |")
    total = sum(sum(cpu) for cpu in jobs.values())
    lines.append(f"| all | | | {total:.0f} |")
    return "\n".join(lines)


def references_table(data: Json) -> str:
    lines = [
        "| model | seed | val acc % | test acc % | params | MACs | trained here | CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    seen = set()
    for cell in data["cells"]:
        for s in cell["seeds"]:
            ref = s["reference"]
            if (cell["model"], ref["seed"]) in seen:
                continue
            seen.add((cell["model"], ref["seed"]))
            lines.append(
                f"| {cell['model']} | {ref['seed']} | {ref['val_accuracy'] * 100:.2f} "
                f"| {ref['test_accuracy'] * 100:.2f} | {ref['params']:,} | {ref['macs']:,} "
                f"| {'no (cached)' if ref['cached'] else 'yes'} | {ref['cpu_s']:.0f} |"
            )
    return "\n".join(lines)


def cell_section(cell: Json) -> str:
    disagree = agreement(cell)
    facts = [
        "baselines identical in the tpe and random runs of every seed"
        if not disagree
        else "baselines differ between runs: " + "; ".join(disagree),
        *cpu_ratio(cell),
    ]
    bullets = "\n".join(f"- {line}" for line in noise_lines(cell) + rank_lines(cell) + facts)
    n = len(cell["seeds"])
    return f"""### {cell["model"]}, {cell["budget"]} ({n} seed{"s" if n != 1 else ""})

{arms_table(cell)}

Test accuracy per seed (%; the search arms' chosen candidate in brackets):

{seeds_table(cell)}

Noise floor, rank correlation, checks:

{bullets}
"""


def summary_lines(data: Json) -> list[str]:
    """Short lines for the terminal: recovered fraction of each search arm per cell."""
    out = []
    for cell in data["cells"]:
        parts = []
        for arm in SEARCHES:
            a, u, unpruned = paired(cell, arm, "uniform")
            if a:
                parts.append(f"{arm} recovered {recovered(a, u, unpruned).text()}")
        out.append(f"{cell['model']} {cell['budget']}: " + "; ".join(parts))
    return out


def render(data: Json, meta: Json) -> str:
    host = "\n".join(f"| {k} | {v} |" for k, v in meta["machine"].items())
    options = "\n".join(f"| {k} | {v} |" for k, v in meta["settings"].items())
    warning = (
        "**Smoke run (`--quick`)**: tiny model, data and compute, one seed. It shows that the "
        "script runs end to end; its figures say nothing about the quality of any arm (see "
        "the noise floor: differences below it are noise, and one seed gives no interval).\n\n"
        if meta["quick"]
        else ""
    )
    sections = "\n".join(cell_section(cell) for cell in data["cells"])
    done, planned = len(data["cells"]), data["planned_cells"]
    if done < planned:
        warning += f"**Partial**: {done} of {planned} cells (model x budget) so far.\n\n"
    return f"""# Search versus baselines: Fashion-MNIST, paired over seeds

{warning}Command: `{meta["command"]}` ({meta["wall_s"] / 60:.1f} min wall). Raw data: the
JSON file beside this one.

## Machine

| | |
| --- | --- |
{host}

## Settings

| setting | value |
| --- | --- |
{options}

## How to read

Every arm of a seed prunes the same reference and gets the same final recipe. `uniform`,
`global`, `sensitivity`: the baselines of the tpe run. `random`, `tpe`: `result.best` of the
staged search with that sampler; `old-tpe`: `result.best` of the single-stage search of commit
`{meta["settings"]["old_commit"]}`. A search arm's best may be a baseline (counted). All on
test accuracy (the test set chose nothing). **recovered** = mean over seeds of (arm - uniform)
/ mean of (unpruned - uniform); intervals are bootstrap 95% over seeds (10,000 resamples);
wins count seeds where the arm is strictly higher. CPU s: user + system time of the arm's
process (`resource.getrusage`), reference loading, sensitivity and baselines included.

## References

{references_table(data)}

## Cost of this run

{cost_table(data)}

## Results

{sections}"""
