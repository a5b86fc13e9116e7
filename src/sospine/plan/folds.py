"""What a run's plan says about leave-one-surgeon-out: the folds, the files a detector gives per fold,
which detectors are out of fold, and what the run says about it at start (a part of `Plan`)."""

from __future__ import annotations

import re

from sospine import constants
from sospine.plan.errors import PlanError

#: a fold's name: its surgeon
FOLD = re.compile(r"S\d+")


class FoldsPlan:
    """`Plan`'s answers about leave-one-surgeon-out folds; it relies on the plan's `config`, `source`,
    `provided`, `detectors`, `produced`, `loso`, `out` and `detection_tables`."""

    def loso_note(self) -> str | None:
        """Under leave-one-surgeon-out, what the split tests and which detectors are out of fold, in
        one line; None under another split."""
        if not self.loso:
            return None
        held_out = [name for name, out in self.out_of_fold.items() if out]
        given = [name for name, out in self.out_of_fold.items() if not out]
        clips = "the Clip trials have no surgeon: they train in every fold and are never tested"
        if held_out:
            ranked = f"out of fold: {', '.join(held_out)}"
            if given:
                ranked += f"; not out of fold (no p-value or interval): {', '.join(given)}"
        else:
            why = "no frames.zip" if "frames" not in self.provided else "no detector that predicts here"
            ranked = (
                f"this run trains nothing ({why}), so no detector is out of fold: a detections file made elsewhere "
                "was not made without each fold's surgeon, and is ranked without p-values or intervals (give one "
                "file per fold, {detections: {S1: file.csv, ...}}, to rank one out of fold)"
            )
        return f"note: leave-one-surgeon-out: {clips}; {ranked}"

    @property
    def out_of_fold(self) -> dict[str, bool]:
        """Detector -> whether its every test trial was predicted by a model that never saw that
        trial's surgeon: under leave-one-surgeon-out those that predict here (once per fold) and
        detections given as one file per fold; a single detections file made elsewhere is not."""
        return {
            name: self.loso and (name in self.produced or bool(self.detectors[name].fold_files))
            for name in self.detection_tables()
        }

    def fold_detector(self, name: str) -> tuple[str, str] | None:
        """(detector, fold) for a leave-one-surgeon-out fold's name `<detector>-<fold>` of a detector
        that predicts here or gives a file per fold, else None."""
        if not self.loso:
            return None
        detector, _, fold = name.rpartition("-")
        folded = detector in self.produced or (detector in self.detectors and self.detectors[detector].fold_files)
        return (detector, fold) if folded and FOLD.fullmatch(fold) else None

    def fold_files(self, name: str, folds: list[str]) -> dict[str, str]:
        """A detector's validated detections per fold, for one given as a file per fold; a fold of
        the split without a file is an error naming it."""
        given = self.detectors[name].fold_files
        lacking = [fold for fold in folds if fold not in given]
        if lacking:
            raise PlanError(
                f"config key 'detectors.{name}.detections' gives files for folds {', '.join(given)} but the split "
                f"has folds {', '.join(folds)}: add {', '.join(lacking)} (each made without that fold's surgeon)"
            )
        return {fold: self.out(f"detections/{name}-{fold}.csv") for fold in folds}

    def expected_folds(self) -> list[str]:
        """The leave-one-surgeon-out folds the split will make: the surgeons of the published trials
        (of the first N for a synthetic release of N trials)."""
        trials = constants.VIDEO_TRIALS
        if self.source == "synthetic":
            trials = trials[: self.config["data"]["synthetic"]["trials"]]
        return sorted({t.split("A")[0] for t in trials if t.startswith("S")}, key=lambda fold: int(fold[1:]))

    def _check_claims(self) -> None:
        """Under leave-one-surgeon-out, before any job: files per fold for exactly the split's folds,
        and a reference that is out of fold where some detector is."""
        if not self.loso:
            return
        folds = self.expected_folds()
        for name, detector in self.detectors.items():
            given = list(detector.fold_files)
            lacking, extra = [f for f in folds if f not in given], [f for f in given if f not in folds]
            if given and (lacking or extra):
                what = "; ".join(
                    part
                    for part in (
                        f"add {', '.join(lacking)}" if lacking else "",
                        f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} no fold of this split"
                        if extra
                        else "",
                    )
                    if part
                )
                raise PlanError(
                    f"invalid configuration: config key 'detectors.{name}.detections' gives files for folds "
                    f"{', '.join(given)} but the split has folds {', '.join(folds)}: {what}"
                )
        wanted, held = self.config["leaderboard"]["reference"], self.out_of_fold
        if wanted != "auto" and wanted in held and not held[wanted] and any(held.values()):
            raise PlanError(
                f"invalid configuration: config key 'leaderboard.reference': {wanted!r} is not out of fold under "
                "leave-one-surgeon-out, so no paired test with it could be reported; choose one of "
                f"{', '.join(n for n, out in held.items() if out)} or auto"
            )
