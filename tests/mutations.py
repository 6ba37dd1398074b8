"""Deliberate mistakes, and whether the test suite catches them.

    python tests/mutations.py                 # every mutation below
    python tests/mutations.py screen-off ...  # some of them, by name

Each mutation is a small source edit, applied to a fresh copy of the repository's tracked
files in a temporary folder; the tests that should catch it run there, against that copy
(a fresh numba cache, so compiled code is rebuilt from the edited source). A mutation is
*killed* when those tests fail, and *survives* when they pass: a survivor is a gap in the
suite. Exit status 1 if any survives. Keep the list growing with every bug found.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str  # the mistake it stands for
    path: str
    old: str
    new: str
    tests: tuple  # pytest node ids that should fail


MUTATIONS = (
    Mutation(
        "screen-off",
        "the int16 screen switched off in kernel.solve (the same bits, so only a spy sees it)",
        "sweep/kernel.py",
        "projections.get(p.regularizer).screened and code == _loop.FIXED for p, code",
        "False and code == _loop.FIXED for p, code",
        ("tests/sweep/test_kernel.py::test_the_screen_is_used_for_l0_problems",),
    ),
    Mutation(
        "stall-streak-1",
        "the stall rule fires on the first geometric step",
        "sweep/kernel.py",
        "STALL_STREAK = 15",
        "STALL_STREAK = 1",
        ("tests/sweep/test_kernel.py",),
    ),
    Mutation(
        "stall-streak-2",
        "the stall rule loosened to 2 iterations",
        "sweep/kernel.py",
        "STALL_STREAK = 15",
        "STALL_STREAK = 2",
        ("tests/sweep/test_kernel.py::test_the_stall_rule_is_no_looser_than_it_can_be",),
    ),
    Mutation(
        "path-margin-2",
        "the stall rule's margin loosened to twice the distance to go",
        "sweep/kernel.py",
        "PATH_MARGIN = 0.5",
        "PATH_MARGIN = 2.0",
        ("tests/sweep/test_kernel.py::test_the_stall_rule_is_no_looser_than_it_can_be",),
    ),
    Mutation(
        "fixed-point-ignored",
        "an exact fixed point is not a stall",
        "sweep/_loop.py",
        "out.stalled[p] = (step == 0 or ws.streak[p] >= ws.need[p]) and not stop",
        "out.stalled[p] = (ws.streak[p] >= ws.need[p]) and not stop",
        ("tests/sweep/test_kernel.py::test_an_exact_fixed_point_is_stalled_at_once",),
    ),
    Mutation(
        "model-axis-swapped",
        "the assembled dataset stores ReLU results under linear and the reverse",
        "sweep/dataset.py",
        "data[v][:, :, :, i, j, :, task.start : task.stop] = part[v]",
        "data[v][:, :, :, i, j, :, task.start : task.stop] = part[v][::-1]",
        ("tests/sweep/test_reference_cells.py::test_cells_of_a_fresh_sweep_equal_their_direct_computation",),
    ),
    Mutation(
        "heatmap-complement-reversed",
        "a heatmap drawing 1 - rate with its rows reversed",
        "analysis/plots.py",
        '_cell_heatmap(ax, ds, sub.values, panel_title, "success rate"',
        '_cell_heatmap(ax, ds, 1 - sub.values[::-1], panel_title, "success rate"',
        ("tests/analysis/test_figures.py::test_heatmap_cells_are_the_success_rates",),
    ),
    Mutation(
        "l0-mc-top-2s",
        "l0-mc takes the 2s largest coordinates outside supp(w*) instead of s",
        "sweep/theory.py",
        "extra = min(s, d - s)",
        "extra = min(2 * s, d - s)",
        ("tests/sweep/test_theory.py",),
    ),
    Mutation(
        "textbook-relu-derivative",
        "the reference gradient uses 1[z > 0] (sgn(0) taken as -1): PGD never leaves 0",
        "sweep/pgd.py",
        "(1 + np.sign(z))",
        "2 * (z > 0)",
        ("tests/sweep/test_pgd.py",),
    ),
    Mutation(
        "independent-intervals-for-nested",
        "nested sweeps' n50 interval from the logit link alone (the grid's link assumption unhedged)",
        "sweep/fit.py",
        "    for link in LINKS:\n        full =",
        '    for link in ("logit",):\n        full =',
        ("tests/analysis/test_stats.py::test_nested_interval_covers_the_true_n50",),
    ),
    Mutation(
        "l0-ties-highest-index",
        "the reference l0 projection keeps the highest indices among ties",
        "sweep/projections.py",
        'keep = np.argsort(-np.abs(V), axis=0, kind="stable")[:k]',
        'keep = (V.shape[0] - 1 - np.argsort(-np.abs(V)[::-1], axis=0, kind="stable"))[:k]',
        ("tests/sweep/test_projections.py",),
    ),
    Mutation(
        "median-interval-narrowed",
        "the flicker zone's median interval ends one order statistic short (below its level)",
        "analysis/flicker.py",
        "    k = m - j  # 0-based index of x_(m+1-j)",
        "    k = m - j - 1",
        ("tests/analysis/test_flicker.py",),
    ),
    Mutation(
        "stop-on-separated-data",
        "an adaptive cell closes on perfectly separated outcomes (a zero-width interval)",
        "sweep/adaptive.py",
        'return finite and not est.get("separated", False) and',
        "return finite and",
        ("tests/sweep/test_adaptive.py::test_separated_outcomes_never_close_a_cell",),
    ),
    Mutation(
        "probes-off-the-fit",
        "later rounds probe the grid's range evenly instead of the fitted quantiles",
        "sweep/adaptive.py",
        "    if np.isfinite(a) and np.isfinite(b) and b > 0:",
        "    if False:",
        ("tests/sweep/test_adaptive.py::test_probes_converge_to_the_true_n50_of_a_known_curve",),
    ),
    Mutation(
        "parts-trusted-by-name",
        "a part file counts as done by its name, its checksum unread",
        "sweep/parts.py",
        "elif _sha256(p.read_bytes()) != want:",
        "elif False:",
        ("tests/sweep/test_parts.py::test_damaged_parts_are_set_aside_and_recomputed",),
    ),
    Mutation(
        "second-writer-admitted",
        "the lock taken without asking: two sweeps write one folder",
        "sweep/parts.py",
        "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "pass",
        ("tests/sweep/test_parts.py::test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over",),
    ),
    Mutation(
        "precision-doubled",
        "adaptive cells close at twice the promised interval width",
        "sweep/adaptive.py",
        "(hi - lo) / 2 <= precision * mid",
        "(hi - lo) / 2 <= 2 * precision * mid",
        (
            "tests/sweep/test_adaptive.py::test_a_closed_cell_is_as_precise_as_promised",
            "tests/analysis/test_probes.py::test_a_real_adaptive_sweep_keeps_its_precision_promise",
        ),
    ),
    Mutation(
        "job-size-unchecked",
        "a batch job without cores or memory answered in dask-jobqueue's words for Python callers",
        "sweep/cluster.py",
        "missing = [key for key in JOB_SIZE if kwargs.get(key) is None and site.get(key) is None]",
        "missing = []",
        ("tests/sweep/test_cluster.py::test_a_job_without_its_size_is_named_in_the_configs_words",),
    ),
    Mutation(
        "sigterm-unhandled",
        "SIGTERM left to Python's default: the run dies at once, with no line and no clean-up",
        "sweep/errors.py",
        "    signal.signal(signal.SIGTERM, _raise_terminated)\n",
        "",
        ("tests/sweep/test_cli.py::test_sigterm_is_ctrl_c_then_resume_gives_the_uninterrupted_dataset",),
    ),
    Mutation(
        "sizes-unchecked",
        "sample sizes not bounded before they are made: a ratio of 1e308 overflows in a traceback",
        "sweep/config.py",
        "    _check_sizes(config, n0)\n",
        "",
        ("tests/sweep/test_fuzz.py::test_the_extremes_found_so_far",),
    ),
    Mutation(
        "hdf-error-raw",
        "a dataset write that fails in the NetCDF library (a full disk) ends in its traceback",
        "sweep/dataset.py",
        "        except RuntimeError as exc:",
        "        except ZeroDivisionError as exc:",
        ("tests/sweep/test_cli.py::test_a_full_disk_is_our_one_line_and_nothing_from_the_libraries",),
    ),
    Mutation(
        "stall-rule-at-every-step",
        "the geometric stall bound used below the paper's step, where it was not measured",
        "sweep/_loop.py",
        "need[p] = rules.stall_streak if probs.rule[p] == FIXED and probs.step[p] == 1 else rules.iterations + 1",
        "need[p] = max(rules.stall_streak, math.ceil(rules.stall_streak / np.float64(probs.step[p])))",
        ("tests/sweep/test_kernel.py::test_a_slow_problem_below_step_1_is_not_cut",),
    ),
    Mutation(
        "step-ignored",
        "the kernel runs the paper's step whatever the problem's",
        "sweep/_loop.py",
        "if t == 0 else probs.step[p]",
        "if t == 0 else one",
        ("tests/sweep/test_kernel.py::test_kernel_traces_equal_plain_pgd",),
    ),
    Mutation(
        "steps-reversed-in-the-dataset",
        "a task's step_size slots written in reverse: the results of one step under another's label",
        "sweep/engine.py",
        "        for mu in config.step_choices\n",
        "        for mu in config.step_choices[::-1]\n",
        ("tests/sweep/test_steps.py",),
    ),
    Mutation(
        "normalized-safeguard-off",
        "the kernel's normalized step never shortened: NIHT without its safeguard",
        "sweep/_loop.py",
        "        if not mu > omega:  # NaN: no curvature along the move, nothing to object",
        "        if True:",
        ("tests/sweep/test_kernel.py::test_normalized_problems_reach_tolerance_with_the_references_shrinks",),
    ),
    Mutation(
        "relu-curvature-unweighted",
        "the normalized step's ReLU curvature counts every row alike, not eq. 3.1's 1 + sgn",
        "sweep/steps.py",
        "        return 1.0 + np.sign(z)",
        "        return np.ones_like(z)",
        ("tests/sweep/test_steps.py::test_the_normalized_step_minimizes_the_relu_loss_up_to_the_first_sign_change",),
    ),
    Mutation(
        "normalized-support-is-everything",
        "the normalized step's line search along the whole gradient, not its restriction to supp(w_t)",
        "sweep/steps.py",
        "    g_support[support] = g[support]",
        "    g_support[:] = g",
        ("tests/sweep/test_kernel.py::test_kernel_traces_equal_plain_pgd",),
    ),
    Mutation(
        "step-rule-under-the-stall-bound",
        "the geometric stall bound applied to the normalized rule (it carries the paper's step as its fallback)",
        "sweep/_loop.py",
        "need[p] = rules.stall_streak if probs.rule[p] == FIXED and probs.step[p] == 1 else rules.iterations + 1",
        "need[p] = rules.stall_streak if probs.step[p] == 1 else rules.iterations + 1",
        ("tests/sweep/test_kernel.py::test_a_normalized_problem_is_not_cut_by_the_stall_bound",),
    ),
    Mutation(
        "group-l1-unscaled",
        "the compiled group-l1 projection sets each group's norm where it should scale the group",
        "sweep/_loop.py",
        "        factor = shrunk[a] / norms[a] if norms[a] > 0 else zero",
        "        factor = shrunk[a] if norms[a] > 0 else zero",
        ("tests/sweep/test_kernel.py::test_compiled_projections_equal_the_reference",),
    ),
    Mutation(
        "group-chi-moment-wrong",
        "E[chi_g^2 1{chi_g > tau}] with the incomplete gamma of the wrong order",
        "sweep/theory.py",
        "    m2 = g * special.gammaincc(g / 2 + 1, x)",
        "    m2 = g * special.gammaincc(g / 2, x)",
        ("tests/sweep/test_theory.py",),
    ),
    Mutation(
        "nuclear-tangent-space-halved",
        "the nuclear norm's statistical dimension with r p for the tangent space's r (2p - r)",
        "sweep/theory.py",
        "    return float(r * (2 * p - r) + values.mean()), float(values.std(ddof=1) / math.sqrt(samples))",
        "    return float(r * p + values.mean()), float(values.std(ddof=1) / math.sqrt(samples))",
        ("tests/sweep/test_theory.py",),
    ),
    Mutation(
        "structures-mixed",
        "a sweep whose sets are for different structures of w* accepted (one w* cannot serve both)",
        "sweep/config.py",
        "    if len(set(kinds.values())) > 1:",
        "    if False:",
        ("tests/sweep/test_structures.py::test_group_configs_are_checked_field_by_field",),
    ),
    Mutation(
        "relu-oracle-without-inequalities",
        "the ReLU program drops the zero outputs' constraints <x_i, w> <= 0 (on Gaussian data they never bind: "
        "only an instance with an active zero row tells)",
        "sweep/oracle.py",
        "return X[positive], y[positive], X[~positive]",
        "return X[positive], y[positive], X[:0]",
        ("tests/sweep/test_oracle.py::test_relu_program_reads_zero_outputs_as_inequalities",),
    ),
    Mutation(
        "oracle-on-wrong-trial",
        "the convex program solved on the next trial's design, not the one PGD saw",
        "sweep/engine.py",
        "return res, convex_limits(config, X, w_star, labels, sizes)",
        "return res, convex_limits(config, problem.draw_trial(config.seed, (task.d, task.s, key[2] + 1), task.d, "
        "task.s, n_max)[0], w_star, labels, sizes)",
        ("tests/sweep/test_oracle.py::test_convex_success_is_the_program_solved_again_on_that_trial",),
    ),
    Mutation(
        "convex-bisection-off-by-one",
        "the bisection's first success marked a failure",
        "sweep/oracle.py",
        "return {n: i >= lo for i, n in enumerate(sizes)}, failed",
        "return {n: i > lo for i, n in enumerate(sizes)}, failed",
        ("tests/sweep/test_oracle.py::test_bisection_equals_solving_every_size",),
    ),
    Mutation(
        "convex-tolerance-unchecked",
        "a tolerance below what the convex program's solver reaches is accepted (every program would fail)",
        "sweep/config.py",
        'if values["tolerance"] < accuracy:',
        "if False:",
        ("tests/sweep/test_oracle.py::test_config_refuses_a_convex_limit_it_cannot_give",),
    ),
    Mutation(
        "relu-limit-all-rows",
        "the ReLU limit counts every row as informative (no Binomial(n, 1/2) thinning)",
        "sweep/theory.py",
        "out[idx] = float(np.dot(stats.binom.pmf(k, size, 0.5), linear_limit(k, delta, spread)))",
        "out[idx] = float(np.dot(stats.binom.pmf(k, size, 1.0), linear_limit(k, delta, spread)))",
        ("tests/sweep/test_oracle.py::test_the_theory_line_against_a_monte_carlo_of_the_kinematic_formula",),
    ),
    Mutation(
        "seed-unbounded",
        "a seed past int64 accepted: every task computed, then the dataset can never be written",
        "sweep/config.py",
        'seed: int = _spec(_int_at_least(0, MAX_SEED), "every',
        'seed: int = _spec(_int_at_least(0), "every',
        ("tests/sweep/test_cli.py::test_a_seed_past_int64_is_refused_before_any_work",),
    ),
    Mutation(
        "out-dir-unchecked",
        "--out that is a directory accepted: the whole sweep runs, then the write fails",
        "sweep/cli.py",
        'r.add_argument("--out", type=_out_path,',
        'r.add_argument("--out", type=Path,',
        ("tests/sweep/test_cli.py::test_an_output_that_cannot_be_written_is_refused_before_any_work",),
    ),
    Mutation(
        "dataset-budget-unchecked",
        "a plan of hundreds of GiB accepted (the traces alone)",
        "sweep/config.py",
        "    _check_dataset(config, sizes)\n    return config",
        "    return config",
        ("tests/sweep/test_config.py::test_a_plan_past_the_dataset_budget_is_refused_with_its_size",),
    ),
    Mutation(
        "workers-see-sigint",
        "the local cluster started with Ctrl-C open: a terminal's Ctrl-C reaches every worker, each in a traceback",
        "sweep/cluster.py",
        "    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)",
        "    held = signal.pthread_sigmask(signal.SIG_BLOCK, ())",
        ("tests/sweep/test_cli.py::test_a_signal_to_the_whole_process_group_is_one_line",),
    ),
    Mutation(
        "scheduler-unchecked",
        "a scheduler address taken on trust: the lock and the manifest written, then distributed's traceback",
        "sweep/runner.py",
        "        cluster.check_reachable(kind, connect_timeout)",
        "        pass",
        ("tests/sweep/test_cli.py::test_an_unreachable_scheduler_is_one_line_before_the_lock",),
    ),
    Mutation(
        "cluster-key-unchecked",
        "a typo in [cluster] (workrs = 2) accepted and ignored by a local run",
        "sweep/runner.py",
        "    cluster.check_known_keys(config.cluster)\n",
        "",
        ("tests/sweep/test_cluster.py::test_what_the_class_refuses_is_one_line_and_exit_2",),
    ),
    Mutation(
        "parts-removed-unverified",
        "the parts folder removed after a write that was never read back",
        "sweep/runner.py",
        "        dataset.verify(ds, out)\n",
        "",
        ("tests/sweep/test_cli.py::test_a_dataset_that_reads_back_wrong_keeps_its_parts",),
    ),
    Mutation(
        "existing-dataset-overwritten",
        "sweep run onto a dataset of another config replaces it without a word",
        "sweep/runner.py",
        "    if not args.overwrite:\n",
        "    if False:\n",
        ("tests/sweep/test_cli.py::test_a_finished_run_removes_its_parts_and_a_rerun_is_up_to_date",),
    ),
    Mutation(
        "numba-cache-beside-package",
        "the compiled kernel cached inside the package (site-packages), where pip uninstall leaves it",
        "sweep/_cache.py",
        "    locators.insert(0, PackageCacheLocator)",
        "    pass",
        ("tests/sweep/test_cache.py",),
    ),
    Mutation(
        "structure-words-borrowed",
        "every figure labelled with the sparse structure's n0 words, whatever the dataset's w*",
        "analysis/plots.py",
        '    return structures.get(ds.attrs.get("structure", structures.DEFAULT))',
        '    return structures.get("sparse")',
        ("tests/analysis/test_figures.py::test_every_figure_of_a_committed_report_speaks_its_structures_words",),
    ),
    Mutation(
        "slopes-of-diverged-cells-coloured",
        "the slopes heatmap colours a cell by the few trials that did not diverge",
        "analysis/plots.py",
        "    slopes = median_slope(ds).where(diverged < 0.5)",
        "    slopes = median_slope(ds)",
        ("tests/analysis/test_figures.py::test_the_slopes_heatmap_hatches_cells_where_most_trials_diverged",),
    ),
    Mutation(
        "stop-swallowed-by-finalizer",
        "a Ctrl-C that lands in a garbage-collector callback is printed as ignored and lost",
        "sweep/errors.py",
        "    sys.unraisablehook = _redeliver(previous)\n",
        "",
        ("tests/sweep/test_errors.py",),
    ),
    Mutation(
        "jobqueue-takes-ctrl-c",
        "dask_jobqueue's import left to replace SIGINT with sys.exit(): a batch run's Ctrl-C exits 0 silently",
        "sweep/cluster.py",
        "    if previous is not None and signal.getsignal(signal.SIGINT) is not previous:\n",
        "    if False:\n",
        ("tests/sweep/test_cluster.py::test_importing_dask_jobqueue_leaves_ctrl_c_to_the_cli",),
    ),
    Mutation(
        "resource-tracker-unblocks",
        "the worker processes' signal mask opened again by multiprocessing's resource tracker",
        "sweep/cluster.py",
        "        resource_tracker.ensure_running()",
        "        pass",
        ("tests/sweep/test_cli.py::test_a_signal_to_the_whole_process_group_is_one_line",),
    ),
    Mutation(
        "step-sign-decoded-in-kernel",
        "the kernel takes a step_size coordinate (0.0, the normalized rule's) as a fixed step of zero",
        "sweep/kernel.py",
        "    if isinstance(step, (bool, str)) or not step > 0:",
        "    if isinstance(step, (bool, str)):",
        ("tests/sweep/test_kernel.py::test_the_loops_safeguard_constants_are_the_registrys",),
    ),
    Mutation(
        "structure-coords-borrowed",
        "every dataset's s and n0 coordinates described in the sparse structure's words",
        "sweep/conventions.py",
        "    kind = structures.get(structure)\n",
        "    kind = structures.get(structures.DEFAULT)\n",
        ("tests/test_codebase.py::test_a_new_structure_reaches_every_table",),
    ),
    Mutation(
        "screen-flag-lost",
        "the l0 set registered without its screen: hard thresholding computes every entry exactly",
        "sweep/projections.py",
        'compiled="L0", screened=True)',
        'compiled="L0")',
        ("tests/sweep/test_kernel.py::test_the_screen_is_used_for_l0_problems",),
    ),
)


#: Mutations whose tests need no compiled code (each takes seconds, not a rebuild): the
#: test suite runs these itself (``tests/test_mutations.py``); the rest are run by hand.
QUICK = (
    "heatmap-complement-reversed",
    "sizes-unchecked",
    "job-size-unchecked",
    "l0-mc-top-2s",
    "textbook-relu-derivative",
    "independent-intervals-for-nested",
    "median-interval-narrowed",
    "relu-curvature-unweighted",
    "group-chi-moment-wrong",
    "nuclear-tangent-space-halved",
    "structures-mixed",
    "relu-limit-all-rows",
    "relu-oracle-without-inequalities",
    "convex-tolerance-unchecked",
    "seed-unbounded",
    "dataset-budget-unchecked",
    "cluster-key-unchecked",
    "stop-swallowed-by-finalizer",
    "jobqueue-takes-ctrl-c",
)


def copy_repository(dest):
    """The tracked files of this repository, as they are in the working tree, into ``dest``."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)


def run(mutation, log=print):
    """Apply ``mutation`` to a fresh copy and run its tests there; returns True if killed."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutation.name}-") as tmp:
        copy = Path(tmp) / "repo"
        copy_repository(copy)
        source = copy / mutation.path
        text = source.read_text()
        if text.count(mutation.old) != 1:
            raise SystemExit(f"mutation {mutation.name}: {mutation.old!r} is not found once in {mutation.path}")
        source.write_text(text.replace(mutation.old, mutation.new))
        env = dict(os.environ, PYTHONPATH=str(copy), NUMBA_CACHE_DIR=str(Path(tmp) / "numba-cache"))
        where = subprocess.run(
            [sys.executable, "-c", "import sweep, analysis; print(sweep.__file__, analysis.__file__)"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
        if str(copy) not in where or where.count(str(copy)) != 2:
            raise SystemExit(f"mutation {mutation.name}: the copy is not what Python imports ({where.strip()})")
        t0 = time.time()
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
        if res.returncode not in (0, 1):  # 1: tests failed; anything else (no tests, a crash): no verdict
            raise SystemExit(f"mutation {mutation.name}: pytest exited {res.returncode}\n{res.stdout[-2000:]}")
        killed = res.returncode == 1
        log(f"{'killed  ' if killed else 'SURVIVED'} {mutation.name:34s} {time.time() - t0:6.0f} s  {mutation.why}")
        return killed


def main(names):
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(
            f"unknown mutations: {', '.join(sorted(unknown))}; known: {', '.join(m.name for m in MUTATIONS)}"
        )
    survivors = [m.name for m in chosen if not run(m)]
    print(
        f"{len(chosen) - len(survivors)} of {len(chosen)} mutations killed"
        + (f"; survived: {survivors}" if survivors else "")
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
