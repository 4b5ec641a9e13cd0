"""Where a local search keeps its things: out folder, study storage, reference model, bundle."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from optuna.trial import TrialState
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url

from pruning import ExportError, PruningError
from search import SearchResult, SearchSpec, make_storage
from service.cli._console import EXIT_FAILED, EXIT_INPUT, fail

DEFAULT_ROOT = Path("prunesearch-out")
STUDY_DB = "study.db"
REFERENCE = "reference.safetensors"
REFERENCE_KEY = "reference.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class OutputPaths:
    """The resolved locations of one run. ``reference_owned``: the reference file is the
    default one inside the out folder, so this tool may check and label it."""

    study: str
    out: Path
    storage: str
    reference: Path
    reference_owned: bool
    done_before: int = 0


def output_paths(
    spec: SearchSpec,
    study: str,
    *,
    out: Path | None,
    storage: str | None,
    reference: Path | None,
) -> OutputPaths:
    folder = out if out is not None else DEFAULT_ROOT / _folder_name(study)
    # A file storage by default, so an interrupted run resumes and Ctrl-C loses nothing.
    url = storage or f"sqlite:///{(folder / STUDY_DB).resolve()}"
    return OutputPaths(
        study=study,
        out=folder,
        storage=url,
        reference=reference if reference is not None else folder / REFERENCE,
        reference_owned=reference is None,
    )


def _folder_name(study: str) -> str:
    # A spec's name is free text: the study name may carry "/", spaces or "..".
    return _UNSAFE.sub("-", study).strip("-.") or "study"


def claim_reference(console: Console, spec: SearchSpec, path: Path) -> None:
    """Refuse a cached reference model trained for another spec; label it for this one.

    The search library loads a cached reference without checking what it was trained for:
    re-running a changed spec into the same ``--out`` would compare against a stale model.
    """
    if spec.model.weights is not None:
        return  # the spec names its weights: nothing is trained or cached
    key, marker = reference_key(spec), path.with_name(REFERENCE_KEY)
    if path.is_file() and marker.is_file():
        try:
            recorded = json.loads(marker.read_text()).get("key")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded != key:
            fail(
                console,
                f"{path} holds an unpruned model trained for another spec",
                EXIT_INPUT,
                hint="use another --out, or delete that file to train the reference again",
            )
    marker.write_text(json.dumps({"key": key}) + "\n")


def reference_key(spec: SearchSpec) -> str:
    """A hash of what the library's pretraining depends on (model, data, seed, optimizer,
    batch size); other changes (budget, trials, fine-tune lengths) keep the reference."""
    parts = {
        "model": spec.model.model_dump(mode="json"),
        "data": spec.data.model_dump(mode="json"),
        "seed": spec.search.seed,
        "optimizer": spec.finetune.optimizer,
        "batch_size": spec.finetune.batch_size,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def open_storage(console: Console, url: str, study: str) -> int:
    """Check ``url`` opens (before minutes of pretraining); return trials already done."""
    try:
        storage = make_storage(url, heartbeat_s=None)
    except Exception as exc:  # any failure to open it is about the user's URL
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        fail(console, f"--storage: cannot open {shown_url(url)}: {first_line}", EXIT_INPUT)
    try:
        study_id = storage.get_study_id_from_name(study)
        done = storage.get_all_trials(
            study_id, deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        return len(done)
    except KeyError:
        return 0  # a new study
    finally:
        storage.engine.dispose()


def save_bundle(console: Console, result: SearchResult, out: Path) -> str | None:
    """Write the best model to ``out``; None when no candidate was feasible."""
    if result.best is None:
        return None
    try:
        try:
            return str(result.save_best(out))
        except ExportError as exc:
            # The PyTorch bundle is the product; an ONNX export that fails (or does not
            # match) must not cost the whole search's result.
            console.print(Text(f"warning: no model.onnx: {exc}", style="yellow"))
            (out / "model.onnx").unlink(missing_ok=True)
            return str(result.save_best(out, onnx=False))
    except (PruningError, OSError) as exc:
        fail(console, f"cannot write the best model to {out}: {exc}", EXIT_FAILED)


def shown_url(url: str) -> str:
    """``url`` fit to print: any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: nothing to mask
        return url
