"""Recordings as data (sospine.data.video, `sospine frames`, sospine.analytics.recordings): frames sampled as
FFmpeg's fps=1 samples them, bad recordings in one line, and a recording analysed as a trial is."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from sospine import analytics
from sospine.analytics import recordings
from sospine.cli import main
from sospine.data.video import VideoError, sample_frames, write_video

FFMPEG = shutil.which("ffmpeg")


def stills(n: int, size=(320, 180)) -> list[Image.Image]:
    """n distinct images: a bar that moves and a number, so frame i is told from frame j."""
    images = []
    for i in range(n):
        image = Image.new("RGB", size, (20 + 30 * i % 200, 90, 160))
        draw = ImageDraw.Draw(image)
        draw.rectangle([10 + 25 * i, 40, 40 + 25 * i, 140], fill=(250, 250, 40))
        draw.text((150, 10), str(i), fill="white")
        images.append(image)
    return images


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=float)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Six stills, each held one second at 30 fps, as H.264 and as HEVC."""
    folder = tmp_path_factory.mktemp("recording")
    images = stills(6)
    return images, write_video(images, folder / "case.mp4"), write_video(images, folder / "case.mkv", codec="libx265")


@pytest.mark.parametrize("which", [1, 2], ids=["h264-mp4", "hevc-mkv"])
def test_frame_k_is_the_still_held_in_second_k(recording, tmp_path, which):
    images, video = recording[0], recording[which]
    sampling = sample_frames(video, tmp_path / "frames", name="case")
    assert sampling.frames == 6 and sampling.complete and not sampling.note
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"case_frame_{k:08d}.jpeg" for k in range(1, 7)]
    for k in range(1, 7):
        distances = [np.abs(pixels(tmp_path / "frames" / names[k - 1]) - np.asarray(o, float)).mean() for o in images]
        assert int(np.argmin(distances)) == k - 1 and distances[k - 1] < 6, distances


@pytest.mark.skipif(FFMPEG is None, reason="the reference ffmpeg command is not installed (.ci/run installs it)")
def test_the_frames_are_those_of_the_ffmpeg_command(recording, tmp_path):
    video = recording[1]
    reference = tmp_path / "ffmpeg"
    reference.mkdir()
    subprocess.run([FFMPEG, "-v", "error", "-i", str(video), "-vf", "fps=1", str(reference / "%08d.jpeg")], check=True)
    sample_frames(video, tmp_path / "ours", name="case")
    theirs, ours = sorted(reference.iterdir()), sorted((tmp_path / "ours").iterdir())
    assert len(theirs) == len(ours) == 6
    for a, b in zip(ours, theirs, strict=True):
        assert np.abs(pixels(a) - pixels(b)).mean() < 4  # the same frame, each JPEG-encoded once


def test_a_long_recording_keeps_one_frame_per_second_at_other_rates(tmp_path):
    video = write_video(stills(3), tmp_path / "slow.mp4", fps=25, hold_s=2.0)
    assert sample_frames(video, tmp_path / "one", name="s").frames == 6
    assert sample_frames(video, tmp_path / "two", name="s", fps=2).frames == 12


def test_bad_recordings_are_one_line_naming_the_file_and_leave_no_folder(tmp_path, recording):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    audio = tmp_path / "audio.wav"
    import wave

    with wave.open(str(audio), "wb") as sound:
        sound.setnchannels(1), sound.setsampwidth(2), sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 8000)
    unfinished = tmp_path / "unfinished.mp4"  # an MP4 whose recording stopped before its index was written
    data = recording[1].read_bytes()
    unfinished.write_bytes(data[: data.index(b"moov") - 4])
    cases = {
        text: "not a video FFmpeg can read",
        empty: "an empty file, not a video",
        audio: "no video stream (it holds audio)",
        unfinished: "cut short before its index was written",
        tmp_path / "missing.mp4": "no such file",
    }
    for path, message in cases.items():
        out = tmp_path / f"{path.stem}_frames"
        with pytest.raises(VideoError) as error:
            sample_frames(path, out)
        assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
        assert "\n" not in str(error.value)
        assert not out.exists() and not list(tmp_path.glob(f"{out.name}.partial*"))


def test_a_recording_cut_mid_file_gives_its_readable_part_and_says_where_it_ends(tmp_path):
    video = write_video(stills(8), tmp_path / "whole.mkv")  # Matroska: readable up to where it stops
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size * 5 // 8])
    sampling = sample_frames(cut, tmp_path / "frames", name="cut")
    assert 2 <= sampling.frames < 8 and not sampling.complete
    assert sampling.note.startswith(f"{cut} is cut short: readable up to 0:00:0") and "of 0:00:08" in sampling.note
    assert len(list((tmp_path / "frames").iterdir())) == sampling.frames


def test_a_failed_sampling_leaves_the_earlier_frames_as_they_were(tmp_path, recording):
    out = tmp_path / "frames"
    (tmp_path / "frames.partial-999999999").mkdir()  # what a killed sampling left: removed by the next
    sample_frames(recording[1], out, name="case")
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    with pytest.raises(VideoError):
        sample_frames(bad, out, name="case")
    assert sorted(p.name for p in out.iterdir()) == before
    assert not list(tmp_path.glob("frames.partial*"))


def test_the_frames_command(tmp_path, recording, capsys):
    assert main(["frames", str(recording[1]), "--out", str(tmp_path / "f")]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir())[0] == "case_frame_00000001.jpeg"
    assert "6 frames in" in capsys.readouterr().out
    bad = tmp_path / "bad.mkv"
    bad.write_text("nope")
    assert main(["frames", str(bad), "--out", str(tmp_path / "g")]) == 1
    assert main(["frames", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "g")]) == 2
    assert main(["frames", str(recording[1]), "--out", str(tmp_path / "g"), "--fps", "0"]) == 1
    result = subprocess.run([sys.executable, "-m", "sospine", "frames", "--help"], capture_output=True, text=True)
    assert "Example: sospine frames case.mp4 --out case_frames" in " ".join(result.stdout.split())


def test_a_trial_of_a_frames_zip_becomes_a_recording_whose_frames_are_the_trials(tmp_path):
    from sospine.data.synth import SynthSpec, generate

    generate(SynthSpec(seed=2, trials=3, frames_per_trial=5, width=160, height=96), tmp_path / "syn")
    assert main(["recording", "--frames", str(tmp_path / "syn" / "frames.zip"), "--trial", "S1A2",
                 "--out", str(tmp_path / "S1A2.mp4")]) == 0  # fmt: skip
    sampling = sample_frames(tmp_path / "S1A2.mp4", tmp_path / "frames")
    assert sampling.frames == 5
    import zipfile

    with zipfile.ZipFile(tmp_path / "syn" / "frames.zip") as archive:
        names = sorted(n for n in archive.namelist() if "S1A2_frame_" in n)
        for k, name in enumerate(names, start=1):
            original = np.asarray(Image.open(archive.open(name)).convert("RGB"), float)
            assert np.abs(pixels(tmp_path / "frames" / f"S1A2_frame_{k:08d}.jpeg") - original).mean() < 6
    assert main(["recording", "--frames", str(tmp_path / "syn" / "frames.zip"), "--trial", "S9A9",
                 "--out", str(tmp_path / "x.mp4")]) == 1  # fmt: skip
    assert not list(tmp_path.glob("x.*"))


def test_a_recordings_presence_is_the_trials_presence_from_the_same_detections():
    """The analysis of a recording is the analysis of a trial: from the same detections, the same
    presence (thresholds and smoothing alike), phases and metrics."""
    from sospine.data.synth import SynthSpec, plan

    release = plan(SynthSpec(seed=3, trials=3, frames_per_trial=30, width=320, height=180))
    boxes, detections = release.bbox, release.detections
    trial = "S1A2"
    mine = detections[detections["trial_frame"].str.startswith(trial)]
    thresholds = {"needle": 0.3, "needle driver": 0.5, "grasper": 0.4, "nerve hook": 0.6, "durotomy": 0.2}
    frames = analytics.frame_index(boxes)
    frames = frames[frames["trial"] == trial]
    source = "detections:x"
    as_trial = analytics.smooth(analytics.detector_presence(frames, mine, thresholds, source, [trial]), 3, 2)
    as_recording = recordings.presence(trial, len(frames), mine, thresholds, source, 3, 2)
    key = ["frame", "tool"]
    merged = as_trial.merge(as_recording, on=key, suffixes=("_trial", "_recording"))
    assert len(merged) == len(frames) * 5 and (merged["present_trial"] == merged["present_recording"]).all()
    phases = {"taking a bite": {"require": ["needle driver", "needle"], "forbid": [], "min_frames": 2}}
    assert recordings.phases_of(as_recording, phases).equals(recordings.phases_of(as_trial, phases))


def test_an_estimate_is_withheld_where_its_model_is_no_better_than_its_control():
    rng = np.random.default_rng(0)
    trials = [f"S{s}A{a}" for s in range(1, 9) for a in range(1, 4)]
    metrics = pd.DataFrame({"grasper_time_in_view_s": rng.uniform(10, 100, len(trials))}, index=trials)
    outcomes = pd.DataFrame(
        {
            "trial": trials,
            "success": metrics["grasper_time_in_view_s"].to_numpy() > 55,
            "repair_time_s": 5 * metrics["grasper_time_in_view_s"].to_numpy() + 100,
        }  # fmt: skip
    )
    recording = pd.DataFrame({"grasper_time_in_view_s": [80.0]}, index=["case"])

    def rows(outcome, metric, value, p, control):
        return [
            {"outcome": outcome, "features": "ground_truth", "metric": metric, "value": value, "p_value": p},
            {"outcome": outcome, "features": "control", "metric": metric, "value": control, "p_value": np.nan},
        ]

    good = pd.DataFrame(rows("success", "auc", 0.95, 0.01, 0.5) + rows("repair_time", "rmse", 20.0, 0.01, 120.0))
    found = recordings.outcome_estimates(metrics, outcomes, recording, good)
    assert found["success"]["estimate"] > 0.5 and found["repair_time"]["estimate"] == pytest.approx(500, rel=0.1)
    assert found["success"]["statement"].startswith("Estimated a watertight repair: ")
    poor = pd.DataFrame(rows("success", "auc", 0.55, 0.4, 0.5) + rows("repair_time", "rmse", 519.0, 0.02, 270.0))
    found = recordings.outcome_estimates(metrics, outcomes, recording, poor)
    assert found["success"]["estimate"] is None and "did no better than its control" in found["success"]["statement"]
    assert (
        found["repair_time"]["estimate"] is None and "did worse than its control" in found["repair_time"]["statement"]
    )
    json.dumps(found, allow_nan=False)  # no NaN in what outcome.json holds


def test_the_detector_that_analyses_is_named_or_the_best_that_can_predict():
    board = pd.DataFrame({"detector": ["yolo", "rt", "paper"], "label": ["all"] * 3, "ap_voc": [0.3, 0.5, 0.9]})
    assert recordings.choose_detector("auto", board, ["yolo", "rt"])[0] == "rt"
    assert recordings.choose_detector("yolo", board, ["yolo", "rt"]) == ("yolo", "analysis.detector")


@pytest.mark.slow
def test_a_recording_of_a_test_trial_is_analysed_through_the_workflow_without_training_again(workdir):
    """The tiny run, then a recording of its test trial S1A2 (made by the workflow from the synthetic
    frames): every file of the recording, no training or prediction of the benchmark again, and its
    presence agrees with the workflow's own timeline of the trial."""
    from .conftest import run, tiny_config

    config = tiny_config(workdir)
    run(workdir, "--configfile", config)
    videos = "videos={S1A2_rec: results/recordings/S1A2.mp4}"
    planned = run(workdir, "--configfile", config, "--config", videos, "-n").stdout
    jobs = {line.split()[-1].rstrip(":") for line in planned.splitlines() if line.startswith(("rule ", "localrule "))}
    assert jobs <= {"synthetic_recording", "recording_frames", "recording_detections", "recording_analysis",
                    "provenance", "front_page", "all"}, jobs  # fmt: skip
    run(workdir, "--configfile", config, "--config", videos)
    folder = workdir / "results" / "videos" / "S1A2_rec"
    for name in ("detections.csv", "presence.csv", "segments.csv", "apms.csv", "outcome.json", "timeline.png"):
        assert (folder / name).is_file(), name
    frames = sorted((folder / "frames").glob("*.jpeg"))  # (and Snakemake's .snakemake_timestamp)
    assert [f.name for f in frames[:2]] == ["S1A2_rec_frame_00000001.jpeg", "S1A2_rec_frame_00000002.jpeg"]
    recorded = pd.read_csv(folder / "presence.csv")
    assert len(recorded) == 5 * len(frames) and set(recorded.columns) == {"frame", "tool", "present"}
    timeline = pd.read_csv(workdir / "results" / "timelines" / "presence.csv")
    own = timeline[(timeline["trial"] == "S1A2") & (timeline["source"] == "detections:yolo")]
    merged = recorded.merge(own, on=["frame", "tool"], suffixes=("_recording", "_timeline"))
    assert len(merged) == len(recorded)
    assert (merged["present_recording"] == merged["present_timeline"]).mean() >= 0.85
    outcome = json.loads((folder / "outcome.json").read_text())
    assert outcome["detector"] == "yolo" and outcome["frames"] == len(frames)
    assert len(pd.read_csv(folder / "apms.csv")) == 1


def test_a_recordings_timeline_is_drawn_with_its_phases(tmp_path):
    table = pd.DataFrame(
        [
            {"frame": f, "tool": tool, "present": (f + k) % 3 == 0}
            for f in range(1, 31)
            for k, tool in enumerate(["needle", "needle driver", "grasper", "nerve hook", "durotomy"])
        ]  # fmt: skip
    )
    segments = pd.DataFrame({"phase": ["taking a bite"], "start_frame": [5], "end_frame": [12]})
    recordings.timeline_figure(table, segments, "case: tools and phases", tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").stat().st_size > 5000
