"""The report of a simulation: results, queries and splits tables, the summary and learning curves."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from trompa_mer import storage
from trompa_mer.committee import folder as committees
from trompa_mer.names import QUADRANTS
from trompa_mer.simulation.plan import Plan, Run

COMMITTEE_MODEL = "committee"
"""`model` of the whole committee's rows in results.csv (members' probabilities averaged)."""
RESULTS_FILE = "results.csv"
RESULT_COLUMNS = ("user", "strategy", "seed", "iteration", "n_annotations", "model", "f1")
SUMMARY_FILE = "summary.md"
QUERIES_FILE = "queries.csv"
"""Every queried song: the batch that took the committee to `iteration`, in rank order."""
SPLITS_FILE = "splits.csv"
"""Each user's songs per seed, `pool` (may be queried) or `test` (only evaluated)."""
CURVE_FILE = "curve_{model}.png"
LINE_STYLES = ("-", "--", "-.", ":")
"""One per strategy, so that strategies choosing the same songs (mc and mix often) stay visible."""


def user_curves(results: pd.DataFrame, strategy: str, model: str) -> pd.DataFrame:
    """Users × iterations F1 of one strategy and model, each user's curve averaged over seeds."""
    rows = results[(results["strategy"] == strategy) & (results["model"] == model)]
    return rows.groupby(["user", "iteration"])["f1"].mean().unstack("iteration").sort_index(axis=1)


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval (Student t; NaN for fewer than 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan
    sem = values.std(ddof=1) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.975, len(values) - 1) * sem)


def slopes(curves: np.ndarray) -> np.ndarray:
    """Least-squares slope (n_users,) of each curve (n_users, n_iterations) over iteration numbers."""
    x = np.arange(curves.shape[1], dtype=np.float64)
    x = x - x.mean()
    return (curves - curves.mean(axis=1, keepdims=True)) @ x / (x @ x)


def summary_models(results: pd.DataFrame) -> list[str]:
    """Model kinds in order of appearance, then the committee (members are left to results.csv)."""
    models = [m for m in results["model"].unique() if not committees.MEMBER_PATTERN.match(m)]
    return [m for m in models if m != COMMITTEE_MODEL] + [COMMITTEE_MODEL]


def summarize(results: pd.DataFrame, strategy_order: list[str]) -> pd.DataFrame:
    """Per strategy and model kind: users; F1 at iteration 0 and at the end (mean and CI half-width
    over users); area under the learning curve (mean F1 over the curve, trapezoids); share of users
    whose F1 slope over iterations is positive."""
    rows = []
    for strategy in strategy_order:
        for model in summary_models(results):
            curves = user_curves(results, strategy, model).to_numpy()
            if not len(curves):
                continue
            area = np.trapezoid(curves, axis=1) / (curves.shape[1] - 1)
            start, end, aulc = mean_ci(curves[:, 0]), mean_ci(curves[:, -1]), mean_ci(area)
            rows.append({"strategy": strategy, "model": model, "users": len(curves),
                         "f1_start": start[0], "f1_start_ci": start[1], "f1_end": end[0],
                         "f1_end_ci": end[1], "aulc": aulc[0], "aulc_ci": aulc[1],
                         "positive_slope": float((slopes(curves) > 0).mean())})
    return pd.DataFrame(rows)


def _pm(mean: float, half: float) -> str:
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def summary_markdown(summary: pd.DataFrame, plan: Plan, about: dict[str, str], figures: list[str]) -> str:
    annotations = plan.iterations * plan.queries
    lines = ["# Simulated personalization", ""]
    lines += [f"- {key}: {value}" for key, value in about.items()]
    lines += [f"- {plan.iterations} iterations × {plan.queries} queries, test share {plan.test_size}, "
              f"{plan.seeds} seed(s), {plan.rounds} xgb rounds per update", "",
              f"| strategy | model | users | F1 at 0 | F1 at {annotations} | AULC | positive slope |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for row in summary.itertuples():
        lines.append(f"| {row.strategy} | {row.model} | {row.users} | {_pm(row.f1_start, row.f1_start_ci)} | "
                     f"{_pm(row.f1_end, row.f1_end_ci)} | {_pm(row.aulc, row.aulc_ci)} | "
                     f"{100 * row.positive_slope:.0f} % |")
    lines += ["", "Weighted F1 on each user's held-out songs (song level: mean probability over a song's "
              "windows), each user's curve averaged over seeds; mean ± 95 % CI (Student t) over users. "
              "AULC: the mean F1 over the learning curve (trapezoids, iteration 0 to the end). Positive "
              "slope: share of users whose least-squares F1 slope over iterations is above 0. Kinds "
              "average their members' probabilities; per-member figures are in "
              f"{RESULTS_FILE}; the queried songs in {QUERIES_FILE}; the splits in {SPLITS_FILE}.", ""]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def plot_curves(results: pd.DataFrame, model: str, strategy_order: list[str], queries: int,
                path: Path) -> None:
    """Learning curves of one model, one line per strategy: mean over users and its 95 % CI band."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for number, strategy in enumerate(strategy_order):
        curves = user_curves(results, strategy, model)
        if curves.empty:
            continue
        x = curves.columns.to_numpy() * queries
        means, halves = zip(*(mean_ci(curves[c].to_numpy()) for c in curves.columns), strict=True)
        means, halves = np.array(means), np.nan_to_num(np.array(halves))
        axes.plot(x, means, marker="o", markersize=3, label=strategy,
                  linestyle=LINE_STYLES[number % len(LINE_STYLES)])
        axes.fill_between(x, means - halves, means + halves, alpha=0.2)
    axes.set_xlabel("annotations")
    axes.set_ylabel("weighted F1 (test songs)")
    axes.set_title(f"{model}: personalization learning curves")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with storage.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def _write_csv(path: Path, rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(columns))
    with storage.atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        table.to_csv(handle, index=False)
    return table


def write_report(out_dir: Path, runs: list[Run], results: list[tuple], queries: list[tuple], plan: Plan,
                 about: dict[str, str]) -> pd.DataFrame:
    """results.csv, queries.csv, splits.csv, one curve PNG per model kind and the committee, and
    summary.md; returns the summary table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = _write_csv(out_dir / RESULTS_FILE, results, RESULT_COLUMNS)
    _write_csv(out_dir / QUERIES_FILE, [row[:7] + (QUADRANTS[row[7]],) for row in queries],
               ("user", "strategy", "seed", "iteration", "rank", "song_id", "score", "quadrant"))
    splits = sorted({(run.user, run.seed, song, part) for run in runs
                     for part, songs in (("pool", run.pool_songs), ("test", run.test_songs))
                     for song in songs})
    _write_csv(out_dir / SPLITS_FILE, splits, ("user", "seed", "song_id", "part"))
    order = list(plan.strategies)
    figures = []
    for model in summary_models(table):
        name = CURVE_FILE.format(model=model)
        plot_curves(table, model, order, plan.queries, out_dir / name)
        figures.append(name)
    summary = summarize(table, order)
    with storage.atomic_open(out_dir / SUMMARY_FILE, "w", encoding="utf-8") as handle:
        handle.write(summary_markdown(summary, plan, about, figures))
    return summary
