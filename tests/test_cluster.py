"""extract_features.py on a Dask cluster (a LocalCluster of 2 worker processes) against a local run."""

from pathlib import Path

import pytest

from tests import signals
from tests.conftest import error_line, run_script


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    signals.write_wav(folder / "chords.wav", signals.progression(0.75))
    signals.write_wav(folder / "tone.wav", signals.tone(330, 2.5))
    signals.write_wav(folder / "noise.wav", signals.noise(2.0, seed=3))
    signals.convert(folder / "chords.wav", folder / "chords_mp3.mp3", "-b:a", "192k")
    return folder


@pytest.fixture(scope="module")
def scheduler() -> str:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def test_cluster_writes_the_same_bytes_as_a_local_run(audio: Path, scheduler: str, tmp_path: Path) -> None:
    local, remote = tmp_path / "local", tmp_path / "remote"
    run_script("extract_features.py", "-i", audio, "-o", local, "-j", "2", check=True)
    result = run_script("extract_features.py", "-i", audio, "-o", remote, "--dask-scheduler", scheduler,
                        check=True)
    assert "done 4, skipped 0, failed 0" in result.stderr
    names = sorted(p.name for p in local.iterdir())
    assert names == ["chords.csv", "chords_mp3.csv", "noise.csv", "tone.csv"]
    assert sorted(p.name for p in remote.iterdir()) == names
    for name in names:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name

    # A rerun after a crash redoes only what is missing; finished files are not touched.
    (remote / "tone.csv").unlink()
    before = (remote / "noise.csv").stat().st_mtime_ns
    result = run_script("extract_features.py", "-i", audio, "-o", remote, "--dask-scheduler", scheduler,
                        check=True)
    assert "done 1, skipped 3, failed 0" in result.stderr
    assert (remote / "tone.csv").read_bytes() == (local / "tone.csv").read_bytes()
    assert (remote / "noise.csv").stat().st_mtime_ns == before


def test_a_failing_file_on_the_cluster_is_reported_and_the_others_written(
        audio: Path, scheduler: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "tone.wav").write_bytes((audio / "tone.wav").read_bytes())
    (inputs / "broken.wav").write_bytes(b"RIFF not really a wav")
    result = run_script("extract_features.py", "-i", inputs, "-o", tmp_path / "out",
                        "--dask-scheduler", scheduler)
    assert result.returncode == 1
    assert "broken.wav" in result.stderr and "done 1, skipped 0, failed 1" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tone.csv"]


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "nonsense"])
def test_unreachable_scheduler_is_one_error_line(address: str, audio: Path, tmp_path: Path) -> None:
    result = run_script("extract_features.py", "-i", audio, "-o", tmp_path / "out",
                        "--dask-scheduler", address, env={"TPL_DASK_CONNECT_SECONDS": "1"})
    assert error_line(result).startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_dask_scheduler_needs_a_batch(audio: Path, tmp_path: Path) -> None:
    result = run_script("extract_features.py", "-i", audio / "tone.wav", "-o", tmp_path / "tone.csv",
                        "--dask-scheduler", "tcp://127.0.0.1:9")
    assert result.returncode == 2 and "--dask-scheduler runs batches" in result.stderr


def test_catalogue_scores_on_the_cluster_equal_the_local_ones(scheduler: str, tmp_path: Path) -> None:
    import numpy as np

    from tests.committees import make_committee, make_pool

    make_committee(tmp_path / "committee")
    make_pool(tmp_path / "data" / "feats", n_songs=13)
    scores = {}
    runs = (("local", ["-j", "2"]), ("cluster", ["--dask-scheduler", scheduler, "--task-songs", "4"]))
    for where, extra in runs:
        env = {"TPL_INTERNAL_DATA_DIRECTORY": str(tmp_path),
               "TPL_POOL_CACHE_DIRECTORY": str(tmp_path / f"cache-{where}")}
        result = run_script("score_catalogue.py", "-m", tmp_path / "committee", *extra, env=env, check=True)
        assert "scored 13 songs (0 already scored)" in result.stderr
        [path] = (tmp_path / f"cache-{where}" / "scores").glob("*.npy")
        scores[where] = np.load(path)
        again = run_script("score_catalogue.py", "-m", tmp_path / "committee", *extra, env=env, check=True)
        assert "scored 0 songs (13 already scored)" in again.stderr
    assert scores["local"]["song"].tolist() == [f"song_{i:02d}" for i in range(13)]
    np.testing.assert_array_equal(scores["cluster"], scores["local"])
