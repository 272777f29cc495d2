"""The pool store (incremental, never trusting a damaged file) and scoring streamed over it in chunks."""

import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tests.committees import (
    make_committee,
    make_pool,
    quadrant_windows,
    write_feature_csv,
    write_quadrant_pool,
)
from trompa_mer import names
from trompa_mer.committee import consensus
from trompa_mer.committee.margins import MarginMemo
from trompa_mer.committee.model import Committee, scale
from trompa_mer.datasets import labelled
from trompa_mer.errors import FeatureError
from trompa_mer.features import pool as pools
from trompa_mer.features.columns import FEATURE_NAMES
from trompa_mer.features.pool import DTYPE, INDEX_FILE, Pool, Update, load_pool
from trompa_mer.features.table import read_feature_csv, song_id_of
from trompa_mer.learning import scoring, update

ROW_BYTES = len(FEATURE_NAMES) * DTYPE.itemsize
"""A stored row of the IS13 pool."""


def csv_rows(path: Path) -> np.ndarray:
    return read_feature_csv(path).astype(np.float32)


def assert_pool_holds(pool: Pool, feats: Path, but: tuple[str, ...] = ()) -> None:
    """The pool has exactly the CSVs of `feats`, each song's rows equal to its CSV's."""
    paths = {song_id_of(p): p for p in feats.glob("*.csv")}
    assert pool.song_ids == sorted(paths)
    rows, offsets = pool.rows(pool.song_ids)
    for i, song in enumerate(pool.song_ids):
        if song not in but:
            np.testing.assert_array_equal(rows[offsets[i]:offsets[i + 1]], csv_rows(paths[song]), song)


def segments(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("seg-*.f32"))


@pytest.fixture
def feats(tmp_path: Path) -> Path:
    make_pool(tmp_path / "feats", n_songs=12, n_windows=6)
    return tmp_path / "feats"


def age_folder(folder: Path) -> None:
    """Date the folder's last change ten seconds back, as if its CSVs had been written long ago."""
    past = time.time_ns() - 10**10
    os.utime(folder, ns=(past, past))


def test_an_unchanged_folder_is_trusted_until_a_full_check(feats: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pools, "FULL_CHECK_SECONDS", 1e9)  # the check never ages during the test
    age_folder(feats)
    with load_pool(feats, tmp_path / "cache") as first:
        assert first.current()
    edited = feats / "song_03.csv"
    old_rows = csv_rows(edited)
    folder_mtime = feats.stat().st_mtime_ns
    with open(edited, "w") as handle:  # rewritten in place: the folder does not change
        handle.write(open(feats / "song_04.csv").read())
    assert feats.stat().st_mtime_ns == folder_mtime
    with load_pool(feats, tmp_path / "cache") as fast:
        assert fast.update.read == [] and first.current()
        np.testing.assert_array_equal(fast.rows(["song_03"])[0], old_rows)  # the CSVs were not looked at
    with load_pool(feats, tmp_path / "cache", full_check=True) as full:
        assert full.update.read == ["song_03"] and not first.current()
        np.testing.assert_array_equal(full.rows(["song_03"])[0], csv_rows(feats / "song_04.csv"))
    age_folder(feats)
    with load_pool(feats, tmp_path / "cache", full_check=True) as checked:
        assert checked.current()
    write_feature_csv(feats / "song_99.csv", quadrant_windows(1, 5, np.random.default_rng(5)))
    assert not checked.current()  # a new CSV changes the folder
    with load_pool(feats, tmp_path / "cache") as grown:
        assert grown.update.read == ["song_99"]
        assert_pool_holds(grown, feats)


def test_a_recently_changed_folder_is_looked_at_again(feats: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A change within RACY_NS of a full check could share the folder's mtime with a later one. The
    folder's mtime is set an hour ahead, so that however slowly the load comes, it is not yet past."""
    monkeypatch.setattr(pools, "FULL_CHECK_SECONDS", 1e9)
    ahead = time.time_ns() + 3600 * 10**9
    os.utime(feats, ns=(ahead, ahead))
    with load_pool(feats, tmp_path / "cache") as pool:
        assert not pool.current()


def test_store_holds_every_csv_and_a_second_load_reads_nothing(feats: Path, tmp_path: Path) -> None:
    pool = load_pool(feats, tmp_path / "cache")
    assert pool.update.read == pool.song_ids and len(pool.song_ids) == 12
    assert_pool_holds(pool, feats)
    X, offsets = pool.windows(["song_03", "song_01"])
    assert X.dtype == np.float64 and list(offsets) == [0, 6, 12]
    np.testing.assert_array_equal(X[:6], csv_rows(feats / "song_03.csv"))
    again = load_pool(feats, tmp_path / "cache")
    assert again.update == Update()
    assert_pool_holds(again, feats)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_csv_that_cannot_be_read_yet_is_left_out_until_it_can(tmp_path: Path, jobs: int) -> None:
    feats = tmp_path / "feats"
    make_pool(feats, n_songs=70, n_windows=2)  # enough for several processes to parse, with jobs=2
    whole = (feats / "song_05.csv").read_text()
    (feats / "being_copied.csv").write_text(whole[: len(whole) // 2])
    (feats / "empty.csv").write_text("")
    pool = load_pool(feats, tmp_path / "cache", jobs=jobs)
    assert list(pool.update.skipped) == ["being_copied", "empty"] and len(pool.song_ids) == 70
    assert "being_copied.csv" in pool.update.skipped["being_copied"]
    assert "being_copied" not in pool and "empty" not in pool
    (feats / "being_copied.csv").write_text(whole)
    again = load_pool(feats, tmp_path / "cache", jobs=jobs)
    assert again.update.read == ["being_copied", "empty"] and list(again.update.skipped) == ["empty"]
    np.testing.assert_array_equal(again.windows(["being_copied"])[0], csv_rows(feats / "song_05.csv"))


def test_only_added_and_changed_csvs_are_read(feats: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_pool(feats, cache)
    rng = np.random.default_rng(5)
    # An unchanged CSV garbled behind the store's back, size and mtime kept: reading it would show.
    sneaky = feats / "song_05.csv"
    kept, stat = csv_rows(sneaky), sneaky.stat()
    sneaky.write_bytes(b"x" * stat.st_size)
    os.utime(sneaky, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    write_feature_csv(feats / "new_a.csv", quadrant_windows(0, 4, rng))
    write_feature_csv(feats / "New_B-sample.csv", quadrant_windows(1, 9, rng))
    changed = feats / "song_02.csv"
    write_feature_csv(changed, quadrant_windows(2, 7, rng))
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (feats / "song_07.csv").unlink()

    pool = load_pool(feats, cache)
    assert pool.update.read == ["new_a", "new_b", "song_02"]
    assert pool.update.removed == ["song_07"]
    assert "song_07" not in pool and "new_b" in pool
    assert_pool_holds(pool, feats, but=("song_05",))
    np.testing.assert_array_equal(pool.rows(["song_05"])[0], kept)
    assert list(pool.n_windows(["song_02", "new_a"])) == [7, 4]


def test_damage_found_on_reading_falls_back_to_the_csv_and_is_rebuilt(feats: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    pool = load_pool(feats, cache)
    [segment] = segments(cache)
    with open(cache / segment, "r+b") as handle:  # inside song_01's rows (6 rows per song)
        handle.seek(7 * ROW_BYTES + 12)
        handle.write(b"\x7f\x7f\x7f\x7f")
    assert_pool_holds(pool, feats)  # read through the already open store
    assert segments(cache) == []  # the damaged segment is gone ...
    again = load_pool(feats, cache)  # ... and rebuilt from the CSVs
    assert again.update.read == again.song_ids
    assert_pool_holds(again, feats)


def _truncate_segment(cache: Path) -> None:
    path = cache / "seg-000000.f32"
    os.truncate(path, path.stat().st_size // 2)


def _garble_segment(cache: Path) -> None:
    with open(cache / "seg-000000.f32", "r+b") as handle:
        handle.seek(8 * 6 * ROW_BYTES + 100)  # inside song_08's rows
        handle.write(b"\x00\x01\x02\x03")


def _garble_index(cache: Path) -> None:
    raw = bytearray((cache / INDEX_FILE).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (cache / INDEX_FILE).write_bytes(bytes(raw))


FIRST_SEGMENT = [f"song_{i:02d}" for i in range(12)]
EVERY_SONG = [*FIRST_SEGMENT, "song_12", "song_13"]


@pytest.mark.parametrize(("damage", "reread"), [
    (_truncate_segment, FIRST_SEGMENT[6:]),
    (_garble_segment, ["song_08"]),
    (lambda cache: (cache / "seg-000000.f32").unlink(), FIRST_SEGMENT),
    (_garble_index, EVERY_SONG),
    (lambda cache: os.truncate(cache / INDEX_FILE, 100), EVERY_SONG),
], ids=["truncated segment", "garbled segment", "missing segment", "garbled index", "truncated index"])
def test_damaged_store_is_detected_and_only_what_it_lost_is_read_again(
        damage, reread: list[str], feats: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_pool(feats, cache)
    write_feature_csv(feats / "song_12.csv", quadrant_windows(0, 5, np.random.default_rng(1)))
    write_feature_csv(feats / "song_13.csv", quadrant_windows(1, 5, np.random.default_rng(2)))
    load_pool(feats, cache)
    assert segments(cache) == ["seg-000000.f32", "seg-000001.f32"]
    damage(cache)
    (cache / ".seg-000007.f32.abc.tmp").write_bytes(b"left by a killed update")
    (cache / "seg-000042.f32").write_bytes(b"named by no index")
    pool = load_pool(feats, cache)
    assert pool.update.read == reread
    assert_pool_holds(pool, feats)
    assert load_pool(feats, cache).update == Update()
    assert sorted(p.name for p in cache.iterdir()) == sorted([".lock", INDEX_FILE, *segments(cache)])
    assert len(segments(cache)) <= 3


def test_updates_keep_few_segments_and_drop_dead_rows(tmp_path: Path) -> None:
    feats, cache = tmp_path / "feats", tmp_path / "cache"
    write_quadrant_pool(feats, 0, 24, 3, bank_rows=8)
    load_pool(feats, cache)
    for i in range(24, 40):
        write_quadrant_pool(feats, i, 1, 3, seed=i, bank_rows=8)
        assert load_pool(feats, cache).update.read == [f"song_{i:06d}"]
        assert len(segments(cache)) <= 1 + int(np.log2(i - 22)) + 1
    for i in range(0, 24):
        (feats / f"song_{i:06d}.csv").unlink()
    assert load_pool(feats, cache).update.removed == [f"song_{i:06d}" for i in range(24)]
    write_quadrant_pool(feats, 40, 1, 3, seed=40, bank_rows=8)
    pool = load_pool(feats, cache)
    assert_pool_holds(pool, feats)
    stored = sum((cache / name).stat().st_size for name in segments(cache))
    assert stored == 17 * 3 * ROW_BYTES  # the first segment, all dead rows, is gone


def test_two_files_for_one_song_is_an_error(feats: Path, tmp_path: Path) -> None:
    (feats / "song_03-sample.csv").write_bytes((feats / "song_03.csv").read_bytes())
    with pytest.raises(FeatureError, match="for song song_03 in .*feats: song_03-sample.csv, song_03.csv"):
        load_pool(feats, tmp_path / "cache")


def test_a_csv_suffix_in_any_case_is_a_song_to_the_pool_and_to_pretraining(feats: Path,
                                                                          tmp_path: Path) -> None:
    (feats / "song_03.csv").rename(feats / "Song_03.CSV")
    pool = load_pool(feats, tmp_path / "cache")
    assert "song_03" in pool and len(pool.song_ids) == 12
    labels = tmp_path / "labels.csv"
    labels.write_text("song_id,quadrant\nSONG_03,q2\nsong_04,Q1\n")
    data = labelled.load_windows(labels, feats, progress=False)
    assert sorted(set(data.songs)) == ["song_03", "song_04"]
    assert not data.skipped.get(labelled.SKIP_NO_FEATURES)


def open_fds() -> set[int]:
    """This process's open file descriptors (the listing's own is open both times it is called)."""
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def test_closing_the_pool_closes_every_segment_file(feats: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_pool(feats, cache).close()
    write_feature_csv(feats / "song_12.csv", quadrant_windows(0, 5, np.random.default_rng(1)))
    before = open_fds()
    with load_pool(feats, cache) as pool:
        assert len(segments(cache)) == 2
        held = open_fds() - before
        assert len(held) == 2  # one per segment
        assert_pool_holds(pool, feats)
    assert open_fds() == before
    for fd in held:
        with pytest.raises(OSError):
            os.fstat(fd)
    with pytest.raises(ValueError, match="closed"):
        pool.rows(["song_01"])
    pool.close()  # closing again is harmless


def test_original_scaling_fits_the_pool_once(feats: Path, tmp_path: Path) -> None:
    """The pool does not change while loaded: scoring again reuses the scaler fitted on it."""
    committee = make_committee(tmp_path / "committee", kinds=("gnb", "sgd"), folds=1)
    cache = tmp_path / "cache"
    with load_pool(feats, cache) as pool:
        songs = pool.song_ids[:4]
        first = scoring.consensus_scores(committee, pool, songs, names.SCALING_ORIGINAL, jobs=1)
        scaler = scoring.pool_scaler(pool)
        [segment] = segments(cache)
        # Garble song_11's rows: reading them again, as a refit would, fails their crc32 and deletes
        # the segment (the CSV then stands in with the same rows).
        with open(cache / segment, "r+b") as handle:
            handle.seek(11 * 6 * ROW_BYTES + 8)
            handle.write(b"\x7f\x7f\x7f\x7f")
        again = scoring.consensus_scores(committee, pool, songs, names.SCALING_ORIGINAL, jobs=1)
        X, _ = scoring.scaled_windows(committee, pool, songs, names.SCALING_ORIGINAL)
        assert segments(cache) == [segment]  # song_11 was not read again
        assert scoring.pool_scaler(pool) is scaler
        np.testing.assert_array_equal(again, first)
        np.testing.assert_array_equal(X, scaler.transform(pool.windows(songs)[0]))
    with load_pool(feats, cache) as fresh:  # another pool is fitted on its own
        assert scoring.pool_scaler(fresh) is not scaler


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pool, Committee]:
    """96 songs of 250 and 350 windows and 3 of 1-3 windows (29,000 rows), and a 6-member committee."""
    root = tmp_path_factory.mktemp("scored")
    write_quadrant_pool(root / "feats", 0, 48, 250, seed=1)
    write_quadrant_pool(root / "feats", 48, 48, 350, seed=2)
    for i, n in enumerate([1, 2, 3]):
        write_quadrant_pool(root / "feats", 96 + i, 1, n, seed=3 + i, bank_rows=4)
    committee = make_committee(root / "committee")
    return load_pool(root / "feats", root / "cache"), committee


def in_memory_scores(committee: Committee, pool: Pool, songs: list[str],
                     scaling: str) -> np.ndarray:
    """The computation before streaming: every window of `songs` at once, scaled on the whole pool,
    with one BLAS thread as scoring uses (OpenBLAS rounds differently with more on some CPUs)."""
    X, offsets = pool.windows(songs)
    reference = pool.windows(pool.song_ids)[0] if scaling == names.SCALING_ORIGINAL else None
    with threadpool_limits(limits=1, user_api="blas"):
        proba = committee.proba(scale(committee, X, scaling, reference))
    return consensus.consensus_entropy(consensus.song_probabilities(proba, offsets))


def test_chunked_scores_equal_the_in_memory_computation_exactly(scored: tuple) -> None:
    pool, committee = scored
    songs = list(np.random.default_rng(0).permutation(pool.song_ids)[:90])
    expected = in_memory_scores(committee, pool, songs, names.SCALING_COMMITTEE)
    assert len(scoring.chunks(pool, pool.storage_order(songs), 1)) >= 5
    for chunk_songs, jobs in [(1, 1), (1, 2), (20, 2), (10_000, 1)]:
        got = scoring.consensus_scores(committee, pool, songs, names.SCALING_COMMITTEE,
                                       chunk_songs, jobs)
        np.testing.assert_array_equal(got, expected, f"chunk {chunk_songs}, jobs {jobs}")


def test_memo_rescores_a_growing_committee_exactly(scored: tuple, tmp_path: Path) -> None:
    """As in a simulated run: score, update on some answers, score the rest again, with songs new to
    the memo mixed in; every score is bitwise the full computation's."""
    pool, committee = scored
    memo = MarginMemo()
    songs = pool.song_ids[:60]
    for iteration in range(3):
        expected = scoring.consensus_scores(committee, pool, songs, names.SCALING_COMMITTEE, 20, 2)
        got = scoring.consensus_scores(committee, pool, songs, names.SCALING_COMMITTEE, 20, 2, memo=memo)
        np.testing.assert_array_equal(got, expected, f"iteration {iteration}")
        answers = {song: i % 4 for i, song in enumerate(songs[:5])}
        committee = update.learn_answers(committee, pool, answers, names.SCALING_COMMITTEE,
                                         rounds=5, seed=iteration)
        songs = songs[5:] + pool.song_ids[60 + 3 * iteration:63 + 3 * iteration]
    # Kept margins are what the memo adds to: a committee not grown from the scored ones goes wrong.
    stranger = update.learn_answers(make_committee(tmp_path / "stranger", seed=9), pool, answers,
                                    names.SCALING_COMMITTEE, rounds=15, seed=0)
    X, offsets = pool.windows(songs[:20])
    X = scale(stranger, X, names.SCALING_COMMITTEE)
    assert not np.array_equal(memo.proba(stranger, X, offsets, songs[:20]), stranger.proba(X))


def test_original_scaling_streams_the_pool_statistics(scored: tuple) -> None:
    pool, committee = scored
    fitted = StandardScaler().fit(pool.windows(pool.song_ids)[0])
    streamed = scoring.pool_scaler(pool, chunk_songs=1)
    np.testing.assert_allclose(streamed.mean_, fitted.mean_, rtol=1e-13)
    np.testing.assert_allclose(streamed.var_, fitted.var_, rtol=1e-12)
    songs = pool.song_ids[::3]
    expected = in_memory_scores(committee, pool, songs, names.SCALING_ORIGINAL)
    got = scoring.consensus_scores(committee, pool, songs, names.SCALING_ORIGINAL, chunk_songs=1, jobs=2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_peak_memory_follows_the_chunk_not_the_pool(scored: tuple) -> None:
    pool, committee = scored

    def peak(chunk_songs: int) -> int:
        tracemalloc.start()
        try:
            scoring.consensus_scores(committee, pool, pool.song_ids, names.SCALING_COMMITTEE,
                                     chunk_songs, 1)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    biggest_chunk = max(pool.n_windows(c).sum() for c in scoring.chunks(pool, pool.song_ids, 1))
    bound = 8 * biggest_chunk * ROW_BYTES * 2  # eight float64 copies of the largest chunk
    assert peak(1) < bound < peak(len(pool.song_ids))
