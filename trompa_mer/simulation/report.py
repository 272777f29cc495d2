"""The report of a simulation: results, queries and splits tables, the summary and learning curves."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from trompa_mer import storage
from trompa_mer.committee import files as committees
from trompa_mer.datasets.listeners import listener_kind
from trompa_mer.names import QUADRANTS
from trompa_mer.simulation.plan import Plan, Run

COMMITTEE_MODEL = "committee"
"""`model` of the whole committee's rows in results.csv (members' probabilities averaged)."""
USER_MODEL = "user"
"""`model` of the user's probabilities: the committee with the other listeners' answers (the crowd
member), through the user's layer."""
RESULTS_FILE = "results.csv"
RESULT_COLUMNS = ("user", "rule", "strategy", "seed", "iteration", "n_annotations", "model", "f1",
                  "accuracy", "nll", "brier")
"""F1 weighted over quadrants; accuracy the share of songs whose most probable quadrant is the
listener's; NLL the mean negative log-likelihood (natural log) of the listener's labels; Brier the
mean squared distance from them (0 to 2): lower is better for both."""
SCORES = ("accuracy", "nll", "brier")
"""The scores the comparison gives as means before and after, beside F1's bands."""
SUMMARY_FILE = "summary.md"
QUERIES_FILE = "queries.csv"
"""Every queried song: the batch that took the committee to `iteration`, in rank order."""
QUERY_COLUMNS = ("user", "rule", "strategy", "seed", "iteration", "rank", "song_id", "score", "quadrant")
LISTENERS_FILE = "listeners.csv"
"""Simulated listeners: kind, the seed that drew them, songs labelled with features, agreement."""
LISTENER_COLUMNS = ("user", "kind", "seed", "songs", "agreement")
ALL_KINDS = "all"
"""The listener-kind group of every listener, when there are several kinds."""
SPLITS_FILE = "splits.csv"
"""Each user's songs per seed, `pool` (may be queried) or `test` (only evaluated)."""
CURVE_FILE = "curve_{model}.png"
"""One per model, one panel per update rule."""
LINE_STYLES = ("-", "--", "-.", ":")
"""One per strategy, so that strategies choosing the same songs (mc and mix often) stay visible."""


@dataclass(frozen=True)
class Report:
    """What a report's tables hold: the per-model summary, the committee's comparison per rule,
    strategy and listener kind, and the simulated listeners (None for real ones)."""

    summary: pd.DataFrame
    comparison: pd.DataFrame
    listeners: pd.DataFrame | None


def user_curves(results: pd.DataFrame, strategy: str, model: str, score: str = "f1") -> pd.DataFrame:
    """Users × iterations `score` of one strategy and model, each user's curve averaged over seeds."""
    rows = results[(results["strategy"] == strategy) & (results["model"] == model)]
    return rows.groupby(["user", "iteration"])[score].mean().unstack("iteration").sort_index(axis=1)


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of its 95 % confidence interval (Student t; NaN for fewer than 2 values)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan
    sem = values.std(ddof=1) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.975, len(values) - 1) * sem)


def clipped_band(mean: float, half: float, low: float = 0.0, high: float = 1.0) -> tuple[float, float]:
    """The band mean ± half cut to [low, high]: a t interval of F1 near 0 or 1 would leave the range
    F1 can take. A NaN half-width (fewer than 2 values) gives NaN bounds."""
    if math.isnan(half):
        return math.nan, math.nan
    return max(low, mean - half), min(high, mean + half)


def share_band(rose: np.ndarray) -> tuple[float, float, float]:
    """Share of True in `rose` (n_users,) and its 95 % Wilson interval (inside [0, 1] by construction,
    unlike a t interval of 0/1 values); NaN bounds for fewer than 2 users."""
    n = len(rose)
    share = float(np.mean(rose))
    if n < 2:
        return share, math.nan, math.nan
    z = float(stats.norm.ppf(0.975))
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = clipped_band(centre, half)
    return share, min(low, share), max(high, share)  # Wilson holds the share; this guards rounding


def slopes(curves: np.ndarray) -> np.ndarray:
    """Least-squares slope (n_users,) of each curve (n_users, n_iterations) over iteration numbers."""
    x = np.arange(curves.shape[1], dtype=np.float64)
    x = x - x.mean()
    return (curves - curves.mean(axis=1, keepdims=True)) @ x / (x @ x)


def summary_models(results: pd.DataFrame) -> list[str]:
    """Model kinds in order of appearance, then the committee (members are left to results.csv)."""
    models = [m for m in results["model"].unique() if not committees.MEMBER_PATTERN.match(m)]
    return [m for m in models if m != COMMITTEE_MODEL] + [COMMITTEE_MODEL]


def rule_order(results: pd.DataFrame, plan: Plan) -> list[str]:
    """The plan's rules that have results, in the plan's order."""
    return [rule for rule in plan.rules if (results["rule"] == rule).any()]


def summarize(results: pd.DataFrame, strategy_order: list[str], rules: list[str]) -> pd.DataFrame:
    """Per update rule, strategy and model kind: users; F1 at iteration 0 and at the end (mean and CI
    half-width over users); area under the learning curve (mean F1 over the curve, trapezoids); share
    of users whose F1 slope over iterations is positive."""
    rows = []
    for rule in rules:
        of_rule = results[results["rule"] == rule]
        for strategy in strategy_order:
            for model in summary_models(results):
                curves = user_curves(of_rule, strategy, model).to_numpy()
                if not len(curves):
                    continue
                area = np.trapezoid(curves, axis=1) / (curves.shape[1] - 1)
                start, end, aulc = mean_ci(curves[:, 0]), mean_ci(curves[:, -1]), mean_ci(area)
                rows.append({"rule": rule, "strategy": strategy, "model": model, "users": len(curves),
                             "f1_start": start[0], "f1_start_ci": start[1], "f1_end": end[0],
                             "f1_end_ci": end[1], "aulc": aulc[0], "aulc_ci": aulc[1],
                             "positive_slope": float((slopes(curves) > 0).mean())})
    return pd.DataFrame(rows)


def listener_groups(users: list[str]) -> list[tuple[str, list[str]]]:
    """(kind, users) per listener kind present (agreeing, systematic, or real `listeners`), then
    `all` when there is more than one kind."""
    kinds: dict[str, list[str]] = {}
    for user in sorted(users):
        kinds.setdefault(listener_kind(user), []).append(user)
    groups = sorted(kinds.items())
    return groups + [(ALL_KINDS, sorted(users))] if len(groups) > 1 else groups


def compare(results: pd.DataFrame, strategy_order: list[str], rules: list[str]) -> pd.DataFrame:
    """The committee, and the user's probabilities (USER_MODEL) when there are, per update rule,
    strategy and listener kind: F1 before any answer (iteration 0) and after the last iteration, the
    change, the share of listeners whose F1 rose (end > start); each with its 95 % band clipped to the
    range it can take (F1 and shares [0, 1], the change [-1, 1]); NaN bounds when there are fewer
    than 2 listeners. Then the mean of each of SCORES before and after."""
    rows = []
    models = [model for model in (COMMITTEE_MODEL, USER_MODEL) if (results["model"] == model).any()]
    for rule, strategy, model in ((r, s, m) for r in rules for s in strategy_order for m in models):
        of_rule = results[results["rule"] == rule]
        curves = user_curves(of_rule, strategy, model)
        if curves.empty:
            continue
        scores = {score: user_curves(of_rule, strategy, model, score) for score in SCORES}
        for kind, users in listener_groups(list(curves.index)):
            table = curves.loc[users].to_numpy()
            before, after = table[:, 0], table[:, -1]
            row = {"rule": rule, "strategy": strategy, "model": model, "listeners": kind, "n": len(users)}
            for name, values, low in (("before", before, 0.0), ("after", after, 0.0),
                                      ("change", after - before, -1.0)):
                mean, half = mean_ci(values)
                row[name], (row[f"{name}_low"], row[f"{name}_high"]) = mean, clipped_band(mean, half, low)
            row["rose"], row["rose_low"], row["rose_high"] = share_band(after > before)
            for score, table in scores.items():
                row[f"{score}_before"], row[f"{score}_after"] = table.loc[users].iloc[:, [0, -1]].mean()
            rows.append(row)
    return pd.DataFrame(rows)


def _band_text(mean: float, low: float, high: float, n: int, form: str = ".3f", unit: str = "") -> str:
    if math.isnan(low):
        return f"{mean:{form}}{unit} (n = {n}: no interval)"
    return f"{mean:{form}}{unit} [{low:{form}}{unit}, {high:{form}}{unit}]"


def _pm(mean: float, half: float, n: int) -> str:
    if math.isnan(half):
        return f"{mean:.3f} (n = {n}: no interval)"
    low, high = clipped_band(mean, half)
    return f"{mean:.3f} ± {half:.3f} [{low:.3f}, {high:.3f}]"


def _scores_text(row: object) -> str:
    """Each of SCORES before → after, as table cells."""
    return " | ".join(f"{getattr(row, f'{score}_before'):.3f} → {getattr(row, f'{score}_after'):.3f}"
                      for score in SCORES)


def comparison_lines(comparison: pd.DataFrame, annotations: int) -> list[str]:
    lines = [f"| rule | strategy | model | listeners | n | F1 at 0 | F1 at {annotations} | change | "
             f"F1 rose | accuracy 0 → {annotations} | NLL | Brier |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in comparison.itertuples():
        rose = _band_text(100 * row.rose, 100 * row.rose_low, 100 * row.rose_high, row.n, ".0f", " %")
        lines.append(f"| {row.rule} | {row.strategy} | {row.model} | {row.listeners} | {row.n} | "
                     f"{_band_text(row.before, row.before_low, row.before_high, row.n)} | "
                     f"{_band_text(row.after, row.after_low, row.after_high, row.n)} | "
                     f"{_band_text(row.change, row.change_low, row.change_high, row.n, '+.3f')} | {rose} | "
                     f"{_scores_text(row)} |")
    return lines


def listener_lines(listeners: pd.DataFrame) -> list[str]:
    """Per kind of simulated listener: how many, and their agreement with the dataset."""
    lines = []
    for kind, group in listeners.groupby("kind", sort=True):
        lines.append(f"- {kind}: {len(group)} listener(s), agreement with the dataset mean "
                     f"{group['agreement'].mean():.3f} (min {group['agreement'].min():.3f}, max "
                     f"{group['agreement'].max():.3f}); each in {LISTENERS_FILE}")
    return lines


def summary_markdown(summary: pd.DataFrame, comparison: pd.DataFrame, plan: Plan, about: dict[str, str],
                     figures: list[str], listeners: pd.DataFrame | None = None) -> str:
    annotations = plan.iterations * plan.queries
    lines = ["# Simulated personalization", ""]
    lines += [f"- {key}: {value}" for key, value in about.items()]
    lines += [f"- {plan.iterations} iterations × {plan.queries} queries, test share {plan.test_size}, "
              f"{plan.seeds} seed(s)"]
    if listeners is not None:
        lines += listener_lines(listeners)
    lines += ["", "## The committee per update rule, strategy and listener kind", ""]
    lines += comparison_lines(comparison, annotations)
    lines += ["", "Weighted F1 of the whole committee (model `committee`, through the listener's layer) "
              f"and of the listener's probabilities (`{USER_MODEL}`: the committee with the other "
              "listeners' answers on each song, when the crowd is a member) on each listener's held-out "
              f"songs before any answer and after {annotations}, each listener's curve averaged over "
              "seeds; the change is after − before; F1 rose: share of listeners whose F1 after is above "
              "before. Mean [95 % band] over listeners: Student t for F1 and the change, Wilson for the "
              "share, clipped to [0, 1] ([-1, 1] for the change); a group of fewer than 2 listeners has no "
              "interval. Accuracy, NLL (mean negative log-likelihood of the listener's labels, natural log) "
              "and Brier score (0 to 2): means over listeners, before → after; lower NLL and Brier are "
              "better."]
    for rule in dict.fromkeys(summary["rule"]):
        lines += ["", f"## Every model kind, update rule {rule}", "",
                  f"| strategy | model | users | F1 at 0 | F1 at {annotations} | AULC | positive slope |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for row in summary[summary["rule"] == rule].itertuples():
            lines.append(f"| {row.strategy} | {row.model} | {row.users} | "
                         f"{_pm(row.f1_start, row.f1_start_ci, row.users)} | "
                         f"{_pm(row.f1_end, row.f1_end_ci, row.users)} | "
                         f"{_pm(row.aulc, row.aulc_ci, row.users)} | "
                         f"{100 * row.positive_slope:.0f} % |")
    lines += ["", "Weighted F1 on each user's held-out songs (song level: mean probability over a song's "
              "windows), each user's curve averaged over seeds; mean ± 95 % CI half-width (Student t) over "
              "users, then the band clipped to [0, 1]. AULC: the mean F1 over the learning curve "
              "(trapezoids, iteration 0 to the end). Positive slope: share of users whose least-squares F1 "
              "slope over iterations is above 0. Kinds average their members' probabilities; per-member "
              f"figures are in {RESULTS_FILE}; the queried songs in {QUERIES_FILE}; the splits in "
              f"{SPLITS_FILE}.", ""]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def plot_curves(results: pd.DataFrame, model: str, strategy_order: list[str], rules: list[str], queries: int,
                path: Path) -> None:
    """Learning curves of one model, one panel per update rule and one line per strategy: mean over
    users and its 95 % CI band, clipped to [0, 1]."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, panels = plt.subplots(1, len(rules), figsize=(6 * len(rules), 4), sharey=True, squeeze=False)
    for axes, rule in zip(panels[0], rules, strict=True):
        of_rule = results[results["rule"] == rule]
        for number, strategy in enumerate(strategy_order):
            curves = user_curves(of_rule, strategy, model)
            if curves.empty:
                continue
            x = curves.columns.to_numpy() * queries
            means, halves = zip(*(mean_ci(curves[c].to_numpy()) for c in curves.columns), strict=True)
            means, halves = np.array(means), np.nan_to_num(np.array(halves))
            axes.plot(x, means, marker="o", markersize=3, label=strategy,
                      linestyle=LINE_STYLES[number % len(LINE_STYLES)])
            axes.fill_between(x, np.clip(means - halves, 0, 1), np.clip(means + halves, 0, 1), alpha=0.2)
        axes.set_xlabel("annotations")
        axes.set_title(f"{model}, update rule {rule}")
        axes.grid(alpha=0.3)
        axes.legend()
    panels[0][0].set_ylabel("weighted F1 (test songs)")
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
                 about: dict[str, str], listeners: list[tuple] | None = None) -> Report:
    """results.csv, queries.csv, splits.csv, listeners.csv (simulated listeners' rows, LISTENER_COLUMNS),
    one curve PNG per model kind and the committee, and summary.md; returns their tables."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table = _write_csv(out_dir / RESULTS_FILE, results, RESULT_COLUMNS)
    _write_csv(out_dir / QUERIES_FILE, [row[:8] + (QUADRANTS[row[8]],) for row in queries], QUERY_COLUMNS)
    splits = sorted({(run.user, run.seed, song, part) for run in runs
                     for part, songs in (("pool", run.pool_songs), ("test", run.test_songs))
                     for song in songs})
    _write_csv(out_dir / SPLITS_FILE, splits, ("user", "seed", "song_id", "part"))
    drawn = None if listeners is None else _write_csv(out_dir / LISTENERS_FILE, listeners, LISTENER_COLUMNS)
    order, rules = list(plan.strategies), rule_order(table, plan)
    figures = []
    for model in summary_models(table):
        name = CURVE_FILE.format(model=model)
        plot_curves(table, model, order, rules, plan.queries, out_dir / name)
        figures.append(name)
    summary = summarize(table, order, rules)
    comparison = compare(table, order, rules)
    with storage.atomic_open(out_dir / SUMMARY_FILE, "w", encoding="utf-8") as handle:
        handle.write(summary_markdown(summary, comparison, plan, about, figures, drawn))
    return Report(summary, comparison, drawn)
