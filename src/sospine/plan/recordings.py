"""What a run's plan says about new surgery recordings (`videos:`): their files, the detector that
analyses them and what it predicts with (a part of `Plan`)."""

from __future__ import annotations

from pathlib import Path

from sospine.plan.errors import PlanError


class RecordingsPlan:
    """`Plan`'s answers about recordings; it relies on the plan's `config`, `results`, `source`,
    `detectors`, `commands`, `predictors` and `out`."""

    @property
    def videos(self) -> dict[str, str]:
        """Recording name -> its video file (`videos:`)."""
        return {str(k): str(v) for k, v in (self.config.get("videos") or {}).items()}

    def is_made_here(self, path: str) -> bool:
        """A file under the output folder (made by a rule, as the demo's synthetic recording)."""
        try:
            Path(path).resolve().relative_to(self.results.resolve())
        except ValueError:
            return False
        return True

    def analysis_detector(self) -> str | None:
        """The detector named to analyse recordings (`analysis.detector`), or None for `auto`: the best
        on the board of those that can predict new images, chosen once the board exists."""
        for name, path in self.videos.items():
            if not self.is_made_here(path) and not Path(path).is_file():
                what = "is a folder, not a video file" if Path(path).is_dir() else "does not exist"
                raise PlanError(f"config key 'videos.{name}': {path} {what}")
        wanted = (self.config.get("analysis") or {}).get("detector", "auto")
        if not self.videos or wanted == "auto":
            if self.videos and not self.predictors:
                lacking = [n for n, d in self.commands.items() if not d.predicts_new_images]
                note = f" ({', '.join(lacking)}: no predict:)" if lacking else ""
                raise PlanError(
                    "videos: no detector of this run can analyse a recording (one trained here, ultralytics weights "
                    "given as {weights: PATH, sha256: ...}, or a command detector with a prediction command, "
                    f"predict: ...){note}; add one, or leave videos empty"
                )
            return None
        if wanted not in self.predictors:
            known = ", ".join(self.predictors) or "none in this run"
            detector = self.detectors.get(wanted)
            if detector is None:
                why = "is not a detector of this run"
            elif detector.predicts_new_images:  # trained or run here only from frames.zip
                why = (
                    f"cannot analyse a recording: data source '{self.source}' provides no frames.zip to make its model"
                )
            else:
                why = f"cannot analyse a recording: it is {detector.lacks_for_new_images}"
            raise PlanError(f"config key 'analysis.detector': {wanted!r} {why}; those that can: {known}")
        return wanted

    def recording_targets(self) -> list[str]:
        return [
            self.out(f"videos/{name}/{file}")
            for name in self.videos
            for file in ("presence.csv", "segments.csv", "apms.csv", "outcome.json", "timeline.png")
        ]

    def predictor_weights(self) -> dict[str, str]:
        """Detector -> what it predicts a recording with, for every detector that can analyse one: its
        weights (trained here or given), or for a command detector the record of its finished run on
        the main split (`costs/<name>.json`, its job's last output): the model its command left in its
        work folder, which the prediction command reads. Analysing a recording only reads these."""
        found = {}
        for name, detector in self.predictors.items():
            if detector.kind == "train":
                found[name] = self.out(f"train/{name}/best.pt")
            elif detector.kind == "command":
                found[name] = self.out(f"costs/{name}.json")
            else:
                found[name] = detector.path
        return found
