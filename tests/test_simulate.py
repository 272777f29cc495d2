"""simulate.py on a generated pool and listeners: no leakage, iteration 0 = the pretrained committee,
reproducible (also on two processes), and a report that agrees with results.csv."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import f1_score

from tests.committees import make_committee, make_pool
from trompa_mer.commands import simulate
from trompa_mer.committee import files as committees
from trompa_mer.committee import members
from trompa_mer.features.table import read_feature_csv
from trompa_mer.learning.crowd import make_crowd, quadrant_counts, read_crowd_csv
from trompa_mer.names import QUADRANTS, UPDATE_LAYER, quadrant_index
from trompa_mer.simulation import run as runs
from trompa_mer.simulation.plan import Plan, Run, labels_by_user, plan_runs, songs_needed, split_songs
from trompa_mer.simulation.run import load_world, simulate_run
from trompa_mer.simulation.shared import CrowdTally

ITERATIONS, QUERIES, SEEDS = 2, 3, 2
STRATEGIES = ("mc", "hc", "mix", "rand")


@pytest.fixture(autouse=True, scope="module")
def one_xgb_thread() -> None:
    """xgboost on one thread: on a busy 2-core machine its default spinning threads cost 10x."""
    with xgb.config_context(nthread=1):
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Read-only inputs shared by the tests: 40 songs, a 6-member committee, three listeners who
    disagree with the truth now and then; listener 3 has too few labels, and listener 1 also
    labels a song without features."""
    root = tmp_path_factory.mktemp("simulate")
    truth = make_pool(root / "feats", n_songs=40, n_windows=6)
    make_committee(root / "committee", kinds=("gnb", "sgd", "xgb"), folds=2, rounds=5)
    rng = np.random.default_rng(7)
    lines = ["user_id,song_id,quadrant"]
    for user, n_songs in (("1", 40), ("2", 36), ("3", 20)):
        for song in sorted(truth)[:n_songs]:
            label = truth[song] if rng.random() > 0.2 else QUADRANTS[rng.integers(4)]
            lines.append(f"{user},{song},{label}")
    lines.append("1,ghost,Q1")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return {"root": root, "truth": truth}


def argv(data: dict, out: Path, *extra: str) -> list[str]:
    root = data["root"]
    return ["--feats", str(root / "feats"), "--labels", str(root / "labels.csv"), "--committee",
            str(root / "committee"), "--strategies", ",".join(STRATEGIES), "--iterations", str(ITERATIONS),
            "--queries", str(QUERIES), "--min-annotations", "30", "--test-size", "0.2", "--seeds", str(SEEDS),
            "--rounds", "3", "--cache", str(root / "cache"), "-o", str(out), *extra]


@pytest.fixture(scope="module")
def report(data: dict) -> Path:
    out = data["root"] / "report"
    assert simulate.main(argv(data, out)) == 0
    return out


def test_results_cover_every_user_strategy_seed_iteration_and_model(report: Path) -> None:
    results = pd.read_csv(report / "results.csv", dtype={"user": str})
    assert list(results.columns) == ["user", "rule", "strategy", "seed", "iteration", "n_annotations",
                                     "model", "f1", "accuracy", "nll", "brier"]
    assert set(results["user"]) == {"1", "2"}  # listener 3 has 20 labels, fewer than 30
    names = sorted(p.name for p in committees.member_paths(Path(report.parent / "committee")))
    models = sorted(names + ["gnb", "sgd", "xgb", "committee", "user"])
    for key, rows in results.groupby(["user", "strategy", "seed", "iteration"]):
        assert sorted(rows["model"]) == models, key
        assert (rows["n_annotations"] == key[3] * QUERIES).all()
    assert len(results) == 2 * len(STRATEGIES) * SEEDS * (ITERATIONS + 1) * len(models)
    assert results["f1"].between(0, 1).all() and results["accuracy"].between(0, 1).all()
    assert (results["nll"] >= 0).all() and results["brier"].between(0, 2).all()


def test_no_test_song_is_ever_queried_or_learnt(report: Path, data: dict) -> None:
    queries = pd.read_csv(report / "queries.csv", dtype={"user": str})
    splits = pd.read_csv(report / "splits.csv", dtype={"user": str})
    labels = pd.read_csv(data["root"] / "labels.csv", dtype={"user_id": str})
    for (user, seed), split in splits.groupby(["user", "seed"]):
        test = set(split.loc[split["part"] == "test", "song_id"])
        pool = set(split.loc[split["part"] == "pool", "song_id"])
        own = set(labels.loc[labels["user_id"] == user, "song_id"]) - {"ghost"}
        assert test and not test & pool and test | pool == own
        for strategy in STRATEGIES:
            mine = (queries["user"] == user) & (queries["seed"] == seed) & (queries["strategy"] == strategy)
            asked = list(queries.loc[mine, "song_id"])
            assert len(asked) == ITERATIONS * QUERIES == len(set(asked))
            assert set(asked) <= pool
    # The guard itself: a run whose pool holds a test song stops before learning from it.
    world = load_world(data["root"] / "feats", data["root"] / "cache", data["root"] / "committee",
                       {"u": {s: quadrant_index(q) for s, q in data["truth"].items()}},
                       read_crowd_csv(data["root"] / "labels.csv"))
    leaky = Run("u", "rand", 0, tuple(sorted(data["truth"])), tuple(sorted(data["truth"])[:5]))
    with pytest.raises(AssertionError, match="test songs entered a query"):
        simulate_run(leaky, world, Plan(("rand",), iterations=5, queries=30, rounds=1))


def test_iteration_0_is_the_pretrained_committees_score(report: Path, data: dict) -> None:
    results = pd.read_csv(report / "results.csv", dtype={"user": str})
    splits = pd.read_csv(report / "splits.csv", dtype={"user": str})
    labels = pd.read_csv(data["root"] / "labels.csv", dtype={"user_id": str})
    committee = committees.load_committee(data["root"] / "committee")
    for (user, seed), split in splits.groupby(["user", "seed"]):
        test = sorted(split.loc[split["part"] == "test", "song_id"])
        own = labels[labels["user_id"] == user].set_index("song_id")["quadrant"]
        y = [quadrant_index(own[s]) for s in test]
        windows = [committee.scaler.transform(read_feature_csv(data["root"] / "feats" / f"{s}.csv"))
                   for s in test]
        proba = {name: np.array([members.predict_proba(member, X).mean(axis=0) for X in windows])
                 for name, member in committee.members.items()}
        expected = {name: f1_score(y, p.argmax(axis=1), average="weighted", zero_division=0)
                    for name, p in proba.items()}
        expected["committee"] = f1_score(y, np.mean(list(proba.values()), axis=0).argmax(axis=1),
                                         average="weighted", zero_division=0)
        start = results[(results["user"] == user) & (results["seed"] == seed) & (results["iteration"] == 0)]
        for strategy, rows in start.groupby("strategy"):
            got = rows.set_index("model")["f1"]
            for model, value in expected.items():
                assert got[model] == pytest.approx(value, abs=1e-12), (user, seed, strategy, model)


def test_summary_and_curves_agree_with_results(report: Path) -> None:
    results = pd.read_csv(report / "results.csv", dtype={"user": str})
    summary = (report / "summary.md").read_text()
    assert "- update rules: shift (the members stay as pretrained;" in summary
    assert "rounds" not in summary  # the shift rule (the default) adds no boosting rounds
    table = [line.split("|")[1:-1] for line in summary.splitlines()
             if re.match(r"\| (mc|hc|mix|rand) \|", line)]
    assert len(table) == len(STRATEGIES) * 5  # gnb, sgd, xgb, the user (with the crowd), the committee
    for cells in table:
        strategy, model, users, start, end, _, positive = (c.strip() for c in cells)
        rows = results[(results["strategy"] == strategy) & (results["model"] == model)]
        curves = rows.groupby(["user", "iteration"])["f1"].mean().unstack()
        assert int(users) == len(curves) == 2
        assert start.startswith(f"{curves[0].mean():.3f} ± ")
        assert end.startswith(f"{curves[ITERATIONS].mean():.3f} ± ")
        rising = sum(np.polyfit(curves.columns, curve, 1)[0] > 1e-12 for curve in curves.to_numpy())
        assert positive == f"{100 * rising / len(curves):.0f} %"
    for model in ("gnb", "sgd", "xgb", "user", "committee"):
        png = report / f"curve_{model}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in summary


def test_reproducible_on_two_processes_and_from_trompa_json_labels(report: Path, data: dict) -> None:
    labels = pd.read_csv(data["root"] / "labels.csv", dtype=str)
    signs = {"Q1": ("1", "1"), "Q2": ("-1", "1"), "Q3": ("-1", "-1"), "Q4": ("1", "-1")}
    study = {"annotations": [{"externalID": row.song_id.upper(), "userid": row.user_id,
                              "valenceValue": signs[row.quadrant][0], "arousalValue": signs[row.quadrant][1]}
                             for row in labels.itertuples()]}
    as_json = data["root"] / "labels.json"
    as_json.write_text(json.dumps(study))
    again = data["root"] / "again"
    arguments = argv(data, again, "-j", "2")
    arguments[arguments.index("--labels") + 1] = str(as_json)
    assert simulate.main(arguments) == 0
    for name in ("results.csv", "queries.csv", "splits.csv"):
        assert (again / name).read_bytes() == (report / name).read_bytes(), name

    def table(folder: Path) -> list[str]:
        return [line for line in (folder / "summary.md").read_text().splitlines()
                if not line.startswith(("- labels", "- crowd"))]

    assert table(again) == table(report)


def test_refuses_what_leaves_nothing_to_simulate(data: dict, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    assert simulate.main(argv(data, tmp_path / "a", "--min-annotations", "41")) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: no user has 41 labelled songs with features (the most any has is 40): "
        "lower --min-annotations")
    assert simulate.main(argv(data, tmp_path / "b", "--iterations", "12")) == 1
    assert ("fewer than the 36 that 12 iterations × 3 queries ask: lower --iterations or --queries (or "
            "--test-size): no user has the 45 labelled songs with features they need (the most any has is "
            "40)") in capsys.readouterr().err  # raising --min-annotations would leave no user at all
    assert simulate.main(argv(data, tmp_path / "b", "--iterations", "10")) == 1
    assert ("raise --min-annotations to 37 to leave out the users with fewer songs"
            in capsys.readouterr().err)  # user 2 (36 songs) is too few, user 1 (40) is enough
    dataset = tmp_path / "dataset.csv"  # a dataset's labels given as a listener's
    dataset.write_text("song_id,quadrant\n" + "".join(f"{s},{q}\n" for s, q in data["truth"].items()))
    arguments = argv(data, tmp_path / "b")
    arguments[arguments.index("--labels") + 1] = str(dataset)
    assert simulate.main(arguments) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {dataset} has no user_id column: --labels takes each listener's own labels "
        "(user_id,song_id,quadrant); a dataset's labels (song_id,quadrant) go with --truth and --listeners "
        "N, which simulates listeners hearing them")
    with pytest.raises(SystemExit) as usage:
        simulate.main(argv(data, tmp_path / "c", "--strategies", "mc,best"))
    assert usage.value.code == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(("iterations", "queries", "test_size"), [(10, 3, 0.2), (2, 3, 0.15), (1, 1, 0.5)])
def test_songs_needed_is_the_fewest_that_leave_enough_after_the_test_split(iterations: int, queries: int,
                                                                          test_size: float) -> None:
    plan = Plan(("mc",), iterations, queries, test_size=test_size)
    enough = songs_needed(plan)
    songs = [f"s{i:03d}" for i in range(enough)]
    assert len(split_songs(songs, test_size, 0)[0]) >= iterations * queries
    assert len(split_songs(songs[:-1], test_size, 0)[0]) < iterations * queries


def truth_argv(data: dict, out: Path, *extra: str) -> list[str]:
    """argv with simulated listeners (--truth, the generated songs' quadrants) instead of --labels."""
    truth = data["root"] / "truth.csv"
    truth.write_text("song_id,quadrant\n" + "".join(f"{s.upper()},{q}\n" for s, q in data["truth"].items()))
    arguments = argv(data, out, "--truth", str(truth), *extra)
    at = arguments.index("--labels")
    return arguments[:at] + arguments[at + 2:]


def test_the_crowd_member_predicts_listeners_better_and_no_crowd_leaves_it_out(data: dict,
                                                                               tmp_path: Path) -> None:
    common = ("--listeners", "6", "--seeds", "1", "--strategies", "rand")
    assert simulate.main(truth_argv(data, tmp_path / "crowd", *common)) == 0
    results = pd.read_csv(tmp_path / "crowd" / "results.csv")
    start = results[results["iteration"] == 0].groupby("model")[["accuracy", "nll"]].mean()
    # five other listeners' answers on each held-out song beat the committee on the generated songs
    assert start.loc["user", "nll"] < start.loc["committee", "nll"]
    assert start.loc["user", "accuracy"] >= start.loc["committee", "accuracy"]
    assert simulate.main(truth_argv(data, tmp_path / "alone", *common, "--no-crowd")) == 0
    alone = pd.read_csv(tmp_path / "alone" / "results.csv")
    # the user's probabilities without the crowd: the committee's through their shift, none before any answer
    zero = alone[alone["iteration"] == 0].set_index(["user", "seed", "strategy", "model"])
    scores = ["f1", "accuracy", "nll", "brier"]
    assert zero.xs("user", level="model")[scores].equals(zero.xs("committee", level="model")[scores])
    layer = tmp_path / "alone-layer"
    assert simulate.main(truth_argv(data, layer, *common, "--no-crowd", "--rules", "layer")) == 0
    assert "user" not in set(pd.read_csv(layer / "results.csv")["model"])  # the layer's is the committee's
    alone = alone[alone["model"] != "user"]
    first = alone[alone["iteration"] == 0].set_index(["user", "model"])["f1"]  # before any answer the
    with_crowd = results[results["iteration"] == 0].set_index(["user", "model"])["f1"]  # committee is
    assert first.equals(with_crowd.loc[first.index])  # the same with the crowd member or without


def test_simulated_listeners_and_both_update_rules(data: dict, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "drawn"
    assert simulate.main(truth_argv(data, out, "--listeners", "2", "--agreeing-share", "0.5",
                                    "--strategies", "rand,mc", "--rules", "original,layer")) == 0
    printed = capsys.readouterr().out
    results = pd.read_csv(out / "results.csv")
    # each seed draws its own listeners: one agreeing, one systematic
    users = results.groupby("user")["seed"].unique()
    assert dict(users.map(list)) == {"agreeing-00": [0], "systematic-00": [0], "agreeing-01": [1],
                                     "systematic-01": [1]}
    assert set(results["rule"]) == {"original", "layer"}
    assert len(results) == 4 * 2 * 2 * (ITERATIONS + 1) * 11  # users, rules, strategies, iterations, models
    queries = pd.read_csv(out / "queries.csv")
    splits = pd.read_csv(out / "splits.csv")
    for (user, seed, _, _), asked in queries.groupby(["user", "seed", "rule", "strategy"]):
        mine = (splits["user"] == user) & (splits["seed"] == seed)
        test = set(splits.loc[mine & (splits["part"] == "test"), "song_id"])
        assert len(asked) == ITERATIONS * QUERIES and not test & set(asked["song_id"])
    drawn = pd.read_csv(out / "listeners.csv")
    assert list(drawn["user"]) == sorted(users.index) and (drawn["songs"] == 40).all()
    for row in drawn.itertuples():
        assert row.user in printed and f"{row.agreement:.3f}" in printed
    summary = (out / "summary.md").read_text()
    for rule in ("original", "layer"):
        for strategy in ("rand", "mc"):
            for kind, n in (("agreeing", 2), ("systematic", 2), ("all", 4)):
                for model in ("committee", "user"):
                    assert f"| {rule} | {strategy} | {model} | {kind} | {n} | " in summary
    assert "update rule original" in summary and "update rule layer" in summary
    assert ("- update rules: original (every member trains on each new batch, xgb members adding 3 boosting "
            "rounds); layer (the members stay as pretrained;") in summary
    one = tmp_path / "one"
    assert simulate.main(truth_argv(data, one, "--listeners", "1", "--agreeing-share", "1", "--seeds", "1",
                                    "--strategies", "rand")) == 0
    line = next(x for x in (one / "summary.md").read_text().splitlines() if x.startswith("| shift | rand |"))
    assert line.startswith("| shift | rand | committee | agreeing | 1 |")
    assert line.count("(n = 1: no interval)") == 4


@pytest.mark.parametrize("extra,message", [
    (("--listeners", "3"), "error: --listeners and --agreeing-share need --truth (the dataset's labels)"),
    (("--truth", "x.csv", "--listeners", "3"), "error: give either --labels (real listeners) or --truth with "
                                               "--listeners (simulated ones), not both"),
])
def test_refuses_mixed_listener_flags(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture,
                                      extra: tuple[str, ...], message: str) -> None:
    assert simulate.main(argv(data, tmp_path / "out", *extra)) == 1
    assert capsys.readouterr().err.splitlines() == [message]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra,message", [
    (("--listeners", "0"), "error: --listeners must be at least 1, not 0"),
    (("--listeners", "-2"), "error: --listeners must be at least 1, not -2"),
    ((), "error: --truth needs --listeners N (simulated listeners per seed)"),
])
def test_refuses_truth_without_a_listener(data: dict, tmp_path: Path, capsys: pytest.CaptureFixture,
                                          extra: tuple[str, ...], message: str) -> None:
    assert simulate.main(truth_argv(data, tmp_path / "out", *extra)) == 1
    assert capsys.readouterr().err.splitlines() == [message]
    assert not (tmp_path / "out").exists()


def test_shared_members_give_each_user_the_figures_of_their_own_scoring(data: dict, tmp_path: Path) -> None:
    """The layer rule's runs on the members' song probabilities scored once and queries from the
    catalogue (`run.share`) against each run scoring its test and candidate songs' windows itself:
    the same songs asked and every figure the same to rounding (the members' mean over windows
    through the layer, or the mean of the windows through it)."""
    crowd = read_crowd_csv(data["root"] / "labels.csv")
    world = load_world(data["root"] / "feats", tmp_path / "cache", data["root"] / "committee",
                       labels_by_user(crowd), crowd)
    plan = Plan(("mc", "mix", "rand"), iterations=ITERATIONS, queries=QUERIES, min_annotations=30,
                test_size=0.2, seeds=1, rules=(UPDATE_LAYER,))
    planned = plan_runs(world.labels, world.pool, plan)
    with world.pool:
        alone = [simulate_run(run, world, plan) for run in planned]
        runs.share(world, planned, world.committee.default_scaling())
        assert world.members is not None
        shared = [simulate_run(run, world, plan) for run in planned]
    for (results, queries), (expected_results, expected_queries) in zip(shared, alone, strict=True):
        def asked(rows: list[tuple]) -> list[tuple]:
            return [row[:7] + row[8:] for row in rows]  # all but the score

        assert asked(queries) == asked(expected_queries)
        assert [row[:7] for row in results] == [row[:7] for row in expected_results]  # user … model
        got = [row[7:] for row in results] + [row[7:8] for row in queries]
        want = [row[7:] for row in expected_results] + [row[7:8] for row in expected_queries]
        for mine, theirs in zip(got, want, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-12, abs=1e-12)
        f1 = {row[6]: [r[7] for r in results if r[6] == row[6]] for row in results}
        assert len(set(map(tuple, f1.values()))) > 1  # members differ: not one figure copied everywhere


def test_scores_of_every_model_at_once_are_each_models_own_to_the_bit() -> None:
    rng = np.random.default_rng(3)
    for n_songs in (1, 2, 7, 10, 23):
        for y in (rng.integers(0, 4, n_songs), np.full(n_songs, 2)):
            proba = rng.dirichlet(np.ones(4), (12, n_songs))
            proba[0] = np.eye(4)[1]  # a model that always answers Q2
            proba[1, :, 3] = 0.0  # one that never gives Q4 a chance: NLL clipped
            f1, accuracy = runs.weighted_f1(y, proba), runs.accuracy(y, proba)
            nll, brier = runs.nll(y, proba), runs.brier(y, proba)
            for m, p in enumerate(proba):
                assert f1[m] == f1_score(y, p.argmax(axis=1), average="weighted", zero_division=0)
                assert accuracy[m] == (p.argmax(axis=1) == y).mean()
                assert nll[m] == -np.log(np.clip(p[np.arange(n_songs), y], 1e-12, 1.0)).mean()
                assert brier[m] == ((p - np.eye(4)[y]) ** 2).sum(axis=1).mean()


def test_the_crowd_tally_counts_as_quadrant_counts_for_every_user() -> None:
    crowd = make_crowd(["a", "a", "b", "b", "b", "c", "a", "d"], ["1", "2", "1", "1", "3", "2", "1", "4"],
                       [0, 1, 2, 2, 3, 0, 1, 3])  # user 1 answered a and b twice; d is not asked
    tally = CrowdTally(crowd)
    songs = ["c", "b", "a", "e"]  # e: nobody's
    for user in ("1", "2", "3", "4", "nobody"):
        np.testing.assert_array_equal(tally.others(songs, user), quadrant_counts(crowd, songs, user))
    assert tally.others([], "1").shape == (0, 4)
