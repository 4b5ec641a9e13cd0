"""The storage the dashboard sees: one study of a storage, read-only."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any, NoReturn

from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

from service.exceptions import ReadOnlyError

__all__ = ["OneStudyView"]


class OneStudyView(BaseStorage):
    """One study of ``storage``, read-only: the only study listed or found by name, every
    other study id raises KeyError (the dashboard answers 404), every trial id of another
    study too, and every write raises :class:`ReadOnlyError`."""

    def __init__(self, storage: BaseStorage, study_id: int, study_name: str) -> None:
        self._storage = storage
        self._study_id = study_id
        self._study_name = study_name

    @property
    def study_id(self) -> int:
        return self._study_id

    def _own(self, study_id: int) -> int:
        if study_id != self._study_id:
            raise KeyError(f"no study with id {study_id}")
        return study_id

    def _own_trial(self, trial_id: int) -> FrozenTrial:
        # A trial id of another study: its number does not lead back to it in this one.
        trial = self._storage.get_trial(trial_id)
        try:
            mine = self._storage.get_trial_id_from_study_id_trial_number(
                self._study_id, trial.number
            )
        except KeyError:
            mine = None
        if mine != trial_id:
            raise KeyError(f"no trial with id {trial_id}")
        return trial

    @staticmethod
    def _refuse(*_: object, **__: object) -> NoReturn:
        raise ReadOnlyError("the dashboard is read-only")

    # Reads of the one study.

    def get_study_id_from_name(self, study_name: str) -> int:
        if study_name != self._study_name:
            raise KeyError(f"no study named {study_name!r}")
        return self._study_id

    def get_study_name_from_id(self, study_id: int) -> str:
        self._own(study_id)
        return self._study_name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._storage.get_study_directions(self._own(study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._storage.get_study_user_attrs(self._own(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._storage.get_study_system_attrs(self._own(study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        # Built from the one study's rows: the dashboard lists studies on every poll, and
        # the base storage's list would read every job's study.
        directions = self.get_study_directions(self._study_id)
        return [
            FrozenStudy(
                study_name=self._study_name,
                direction=None,
                directions=directions,
                user_attrs=self.get_study_user_attrs(self._study_id),
                system_attrs=self.get_study_system_attrs(self._study_id),
                study_id=self._study_id,
            )
        ]

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return self._storage.get_all_trials(self._own(study_id), deepcopy=deepcopy, states=states)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        return self._storage.get_n_trials(self._own(study_id), state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self._storage.get_best_trial(self._own(study_id))

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._storage.get_trial_id_from_study_id_trial_number(
            self._own(study_id), trial_number
        )

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._own_trial(trial_id)

    # Writes: none.

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        self._refuse()

    def delete_study(self, study_id: int) -> None:
        self._refuse()

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._refuse()

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._refuse()

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self._refuse()

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        self._refuse()

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        self._refuse()

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._refuse()

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._refuse()

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._refuse()
