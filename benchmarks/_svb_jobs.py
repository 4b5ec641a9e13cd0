"""One unit of work of search_vs_baselines, run in its own process so that its CPU time
is its own: ``python benchmarks/_svb_jobs.py JOB.json OUT.json``.

Kinds of job (``job["kind"]``), each on the unpruned reference cached at ``job["weights"]``:

* ``reference``: train the reference (``search.prepare`` with ``reference_weights``: the
  model is trained for ``pretrain_epochs`` and cached) and report its figures;
* ``search``: ``search.run_search`` on ``job["spec"]``; the leaderboard, best, reference.
  The old single-stage arm runs this kind with an older checkout first on PYTHONPATH, so
  this kind uses only names that checkout also has (``run_search``, ``SearchSpec.parse``);
* ``noise``: the search's own ``uniform`` baseline policy (its first screening trial),
  fine-tuned with the final recipe once per seed of ``job["seeds"]``;
* ``finetune``: the given candidates' policies, each fine-tuned with the final recipe and
  the same seed.

The final recipe is the search's finals (search/stages/_training.py): the policy applied to
the reference, BatchNorm recalibrated on ``calibration_batches`` batches, ``final_epochs``
of cosine SGD at ``lr`` on all training data, distilled from the reference when ``distill``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

Job = dict[str, Any]


def main(argv: list[str]) -> int:
    job_file, out_file = Path(argv[0]), Path(argv[1])
    job: Job = json.loads(job_file.read_text())
    torch.set_num_threads(int(job.get("threads", 1)))
    cpu, wall = time.process_time(), time.perf_counter()
    result = RUNNERS[job["kind"]](job)
    result["process_cpu_s"] = time.process_time() - cpu
    result["process_wall_s"] = time.perf_counter() - wall
    out_file.write_text(json.dumps(result))
    return 0


def _check_root(job: Job) -> str:
    """The file ``search`` was imported from, which must lie under ``job["root"]``."""
    import search

    where = str(Path(search.__file__).resolve())
    root = str(Path(job["root"]).resolve())
    if not where.startswith(root + "/"):
        raise RuntimeError(f"search imported from {where}, not from {root}")
    return where


def run_reference(job: Job) -> Job:
    from search import SearchSpec, prepare

    prepared = prepare(SearchSpec.parse(job["spec"]), reference_weights=Path(job["weights"]))
    return {"reference": prepared.reference.to_dict() | {"layers": None}}


def run_search_job(job: Job) -> Job:
    from search import SearchSpec, run_search

    where = _check_root(job)
    weights = Path(job["weights"])
    if not weights.is_file():
        raise RuntimeError(f"no reference weights at {weights}; train the reference first")
    result = run_search(SearchSpec.parse(job["spec"]), reference_weights=weights)
    return {
        "search_module": where,
        "leaderboard": [c.to_dict() for c in result.leaderboard],
        "best": None if result.best is None else result.best.to_dict(),
        "rank_correlation": result.rank_correlation,
        "reference": result.reference.to_dict() | {"layers": None},
    }


def run_noise(job: Job) -> Job:
    from search import SearchSession, SearchSpec, prepare

    prepared = prepare(SearchSpec.parse(job["spec"]), reference_weights=Path(job["weights"]))
    session = SearchSession(prepared)
    session.enqueue_baselines()
    session.run_slice(max_trials=1)  # the uniform baseline is the first trial enqueued
    uniform = next(c for c in session.leaderboard() if c.kind == "uniform")
    runs = [
        {"seed": seed, **final_recipe(prepared, uniform.ratios, uniform.criterion, seed)}
        for seed in job["seeds"]
    ]
    return {"uniform": uniform.to_dict(), "runs": runs}


def run_finetune(job: Job) -> Job:
    from search import SearchSpec, prepare

    prepared = prepare(SearchSpec.parse(job["spec"]), reference_weights=Path(job["weights"]))
    runs = [
        {"number": c["number"], **final_recipe(prepared, c["ratios"], c["criterion"], job["seed"])}
        for c in job["candidates"]
    ]
    return {"runs": runs}


def final_recipe(
    prepared: Any, ratios: dict[str, float], criterion: str | None, seed: int
) -> dict[str, float]:
    """Prune the reference by ``ratios`` as the search does, give it the finals' fine-tune
    with ``seed``; validation and test accuracy and the CPU seconds it took."""
    from pruning import Policy, apply_policy, evaluate, finetune, recalibrate_bn

    cpu = time.process_time()
    spec = prepared.spec
    options = spec.finetune
    policy = Policy(
        ratios=ratios,
        criterion=criterion or "l2",
        granularity=spec.search.granularity,
        round_to=spec.search.round_to,
    )
    x, y = prepared.data.train.tensors
    model = apply_policy(
        prepared.model,
        policy,
        prepared.example_inputs,
        report=prepared.report,
        data=(x[:256], y[:256]),
        seed=spec.search.seed,
    )
    train = prepared.data.train
    recalibrate_bn(
        model, train, batches=spec.search.calibration_batches, batch_size=options.batch_size
    )
    finetune(
        model,
        train,
        epochs=options.final_epochs,
        lr=options.lr,
        optimizer=options.optimizer,
        batch_size=options.batch_size,
        teacher=prepared.model if options.distill else None,
        seed=seed,
    )
    return {
        "val": evaluate(model, prepared.data.val).accuracy,
        "test": evaluate(model, prepared.data.test).accuracy,
        "cpu_s": time.process_time() - cpu,
    }


RUNNERS = {
    "reference": run_reference,
    "search": run_search_job,
    "noise": run_noise,
    "finetune": run_finetune,
}

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
