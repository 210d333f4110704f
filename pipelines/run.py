"""``python -m pipelines.run``: curate web crawls into a sharded, documented dataset.

With no arguments it runs the default recipe on the bundled sample and writes ./output, on every local
core (pipelines/local_runner.py). Every option Beam knows (``--runner``, ``--project``, ``--region``,
``--temp_location``, ``--num_workers``, ``--direct_running_mode``, ...) passes through to Beam.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from pathlib import Path

import yaml

SAMPLE = Path(__file__).parent / "data" / "sample.warc.gz"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "pyproject.toml"
_REMOTE_RUNNERS = ("dataflowrunner", "dataflow")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.run",
        description=__doc__.split("\n\n")[0],
        epilog="Unrecognised options go to Beam, e.g. --runner=DataflowRunner --project=... A local run uses "
        "one worker per core (threads up to 4 cores, worker processes above); --direct_num_workers=N and "
        "--direct_running_mode=in_memory|multi_threading|multi_processing override it.",
    )
    parser.add_argument("--input", action="append", nargs="+", metavar="GLOB",
                        help="files or globs, local or cloud (gs://, s3://); repeatable. Default: the bundled sample")
    parser.add_argument("--output", default="./output", help="output folder, local or cloud (default ./output)")
    parser.add_argument("--recipe", help="recipe YAML (default: pipelines/recipes/default.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one recipe value, e.g. --set language.min_score=0.8; repeatable")
    parser.add_argument("--annotate_only", action="store_true",
                        help="write every document with all scores and the decision it would get; drop nothing")
    parser.add_argument("--input_format", choices=["warc", "wet", "jsonl", "parquet"],
                        help="force the input format (default: from the file name)")
    parser.add_argument("--text_column", default="text", help="text column of JSONL/Parquet inputs")
    parser.add_argument("--id_column", default="id", help="id column of JSONL/Parquet inputs")
    parser.add_argument("--url_column", default="url", help="url column of JSONL/Parquet inputs")
    parser.add_argument("--synth", action="store_true",
                        help="also write a 'synthetic' config: MAGA rewrites of the selected kept documents "
                        "(recipe section synth; default: the embedded SmolLM2 in-process, a smoke-test model)")
    parser.add_argument("--spread_records", choices=["auto", "always", "never"], default="auto",
                        help="reshuffle raw records over workers before extraction (auto: on distributed "
                        "runners, and locally when there are fewer files than workers; it holds the corpus' "
                        "HTML in memory on the local runners)")
    parser.add_argument("--dedup_against", metavar="PATH",
                        help="near-dedup against the LSHBloom index of earlier runs at PATH (local or cloud) "
                        "and extend it with this run's documents; a new index is created if PATH has none")
    parser.add_argument("--progress_every", type=float, default=10.0, metavar="SECONDS",
                        help="log records read and extracted per input file, rates and an ETA this often (default 10)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only the summary")
    return parser.parse_known_args(argv)


def _overrides(pairs: list[str]) -> dict:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        result[key.strip()] = yaml.safe_load(value)
    return result


def _sample_path() -> str:
    """The bundled sample, relative to the working directory when it is below it (tidier ``source`` column).

    The sample is part of the source checkout, not of the installed package (Beam stages the package
    to every Dataflow worker, which has no use for 14.8 MB of demo pages)."""
    if not SAMPLE.is_file():
        raise SystemExit(f"error: no --input given, and the bundled sample {SAMPLE} is not here: it comes with a "
                         "checkout of the project (pip install -e .); pass --input with your own files")
    try:
        return str(SAMPLE.relative_to(Path.cwd()))
    except ValueError:
        return str(SAMPLE)


def _check_inputs(patterns: list[str]) -> tuple[int, int]:
    """Fail before starting a job on a glob that matches nothing: the commonest typo of all. Returns the
    number of files and their bytes (for the progress lines' ETA)."""
    from apache_beam.io.filesystems import FileSystems

    files, size = 0, 0
    for pattern, result in zip(patterns, FileSystems.match(patterns)):
        if not result.metadata_list:
            raise SystemExit(f"error: --input {pattern!r} matches no file; check the path or quote the glob")
        files += len(result.metadata_list)
        size += sum(m.size_in_bytes for m in result.metadata_list)
    return files, size


def _check_stage_files(recipe) -> None:
    """Fail before reading any input when a file an enabled stage needs is missing (a typo in a list's or an
    eval set's path would otherwise surface on the first worker, after the job started)."""
    from apache_beam.io.filesystems import FileSystems

    wanted = []
    if recipe.url.enabled:
        url = recipe.url
        if url.categories:
            wanted += [("url.blocklists", folder) for folder in url.blocklists if folder != "shipped"]
        wanted += [(f"url.{key}", path) for key in ("banned_words", "soft_banned_words", "banned_subwords")
                   if (path := getattr(url, key)) and url.words]
    if recipe.decontamination.enabled:
        wanted += [("decontamination.files", f.path) for f in recipe.decontamination.eval_files()]
    for key, path in wanted:
        if not FileSystems.exists(path):
            raise SystemExit(f"error: {key}: {path} does not exist")


def _check_synth(recipe, options) -> None:
    """Stop a --synth run before it reads anything when its backend cannot run (a package or the model
    missing, the server down): the synthesis step would otherwise fail after the whole crawl was processed.
    A server checked from a launcher that Dataflow workers reach it and this machine may not: a warning."""
    if not recipe.synth.enabled:
        return
    from apache_beam.options.pipeline_options import StandardOptions

    from synth.preflight import SynthUnavailable, check

    try:
        print(f"synth: {check(recipe.synth)}", file=sys.stderr)
    except SynthUnavailable as err:
        runner = (options.view_as(StandardOptions).runner or "").lower()
        if runner in _REMOTE_RUNNERS and recipe.synth.backend == "openai":
            print(f"warning: {err} (from this machine; the workers may reach it)", file=sys.stderr)
            return
        raise SystemExit(f"error: {err}") from None


def _tokenizer(recipe) -> dict | None:
    """Load the recipe's tokenizer before reading any input (a typo, a missing package or, for token shards,
    a tokenizer without an end-of-document token fails here, not on the first worker); its name, hash and
    document markers go to stats.json and the card."""
    if not recipe.tokenize.enabled:
        return None
    from pipelines.tokenize import load_config

    try:
        tokenizer = load_config(recipe.tokenize)
    except (ValueError, ImportError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    if recipe.output.token_formats and tokenizer.eos is None:
        raise SystemExit(f"error: output.formats {recipe.output.token_formats}: tokenizer {tokenizer.name} names no "
                         "end-of-document token (no eos_token in a tokenizer_config.json beside it, none of the "
                         "usual ones in its vocabulary); set tokenize.eos to the token's text")
    return tokenizer.describe()


def _beam_options(beam_args: list[str]):
    from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, StandardOptions

    from pipelines.local_runner import local_defaults

    options = PipelineOptions(local_defaults(beam_args))
    runner = (options.view_as(StandardOptions).runner or "").lower()
    setup = options.view_as(SetupOptions)
    if runner in _REMOTE_RUNNERS and not setup.setup_file and PROJECT_FILE.exists():
        # Workers need this package (filters/, dedup/, ...); Beam builds it from pyproject.toml.
        setup.setup_file = str(PROJECT_FILE)
    return options


def _warn_local_paths_on_remote_runner(options, paths: list[str]) -> None:
    from apache_beam.options.pipeline_options import StandardOptions

    runner = (options.view_as(StandardOptions).runner or "").lower()
    local = [p for p in paths if "://" not in p]
    if runner in _REMOTE_RUNNERS and local:
        print(f"warning: Dataflow workers cannot see local paths: {', '.join(local)}; use gs:// paths",
              file=sys.stderr)


def _spread(mode: str, options, n_files: int) -> bool:
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    from pipelines.local_runner import cores
    from pipelines.pipeline import spread_records

    runner = (options.view_as(StandardOptions).runner or "").lower()
    workers = options.view_as(DirectOptions).direct_num_workers
    return spread_records(mode, runner, n_files, cores() if workers == 0 else workers or 1)  # 0: Beam's "all cores"


def _plan_near_index(path: str | None, recipe, inputs: list[str], output: str):
    """The --dedup_against plan, checked against the recipe before anything runs (IndexMismatchError)."""
    if not path:
        return None
    if not recipe.dedup.near.enabled:
        raise SystemExit("error: --dedup_against needs near dedup; remove --set dedup.near.enabled=false")
    from dedup import cross_run

    near = recipe.dedup.near
    plan = cross_run.plan(path, near.lsh_params(), cross_run.run_id(inputs, recipe.hash, output),
                          capacity=near.capacity, shards=near.index_shards)
    print(plan.summary(), file=sys.stderr)
    return plan


def _configure_logging(quiet: bool) -> None:
    from pipelines.local_runner import JOB_SERVICE_LOGGER, PROJECT_PACKAGES, WorkerLogs, quiet_beam

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.set_name("webcurate")
    for name in PROJECT_PACKAGES:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING if quiet else logging.INFO)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "webcurate"] + [handler]
        logger.propagate = False
    # Worker processes (multi_processing: the local default above 4 cores) log through Beam's job service.
    service = logging.getLogger(JOB_SERVICE_LOGGER)
    service.setLevel(logging.INFO)
    if not any(isinstance(f, WorkerLogs) for f in service.filters):
        service.addFilter(WorkerLogs())
    quiet_beam()


def prepare(argv: list[str] | None = None, timings: dict[str, float] | None = None):
    """Parse the command line into a constructed (not yet run) Beam pipeline and its Job.

    Raises RecipeError for a bad recipe and SystemExit for bad arguments or inputs. ``timings``, when given,
    receives the seconds of each start-up step (imports, checks, graph).
    """
    timings = {} if timings is None else timings
    lap = time.monotonic()

    def took(step: str) -> None:
        nonlocal lap
        now = time.monotonic()
        timings[step] = timings.get(step, 0.0) + now - lap
        lap = now

    args, beam_args = parse_args(argv)
    _configure_logging(args.quiet)

    import apache_beam as beam

    from pipelines.progress import ProgressPlan
    from pipelines.readers import TextColumns
    from pipelines.pipeline import Job, build
    from pipelines.recipe import load_recipe

    took("imports")

    overrides = _overrides(args.set)
    if args.synth:
        overrides["synth.enabled"] = True  # through the recipe, so recipe.yaml and the hash say so
    recipe = load_recipe(args.recipe, overrides)
    _check_stage_files(recipe)
    inputs = [glob for group in args.input for glob in group] if args.input else [_sample_path()]
    n_files, n_bytes = _check_inputs(inputs)
    options = _beam_options(beam_args)
    _check_synth(recipe, options)
    output = args.output.rstrip("/") or "/"
    _warn_local_paths_on_remote_runner(options, inputs + [output] + ([args.dedup_against] if args.dedup_against else []))
    near_index = _plan_near_index(args.dedup_against, recipe, inputs, output)
    job = Job(
        inputs=inputs,
        output=output,
        recipe=recipe,
        annotate_only=args.annotate_only,
        input_format=args.input_format,
        columns=TextColumns(args.text_column, args.id_column, args.url_column),
        near_index=near_index,
        spread_records=_spread(args.spread_records, options, n_files),
        tokenizer=_tokenizer(recipe),
        progress=ProgressPlan(uuid.uuid4().hex, None if args.quiet else args.progress_every, n_files, n_bytes),
    )
    took("checks")  # recipe, inputs, stage files, tokenizer
    print(f"recipe {recipe.name} ({recipe.hash}) on {n_files} file(s) → {job.output}"
          f"{' [annotate-only]' if job.annotate_only else ''}", file=sys.stderr)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, job)
    took("graph")
    return pipeline, job


def main(argv: list[str] | None = None) -> int:
    begun = time.monotonic()
    from apache_beam.runners.runner import PipelineState

    from pipelines import progress
    from pipelines.pipeline import read_stats
    from pipelines.recipe import RecipeError
    from pipelines.stats import format_funnel

    from dedup.lshbloom import IndexMismatchError

    timings = {"imports": time.monotonic() - begun}
    try:
        pipeline, job = prepare(argv, timings)
    except (RecipeError, IndexMismatchError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    started = time.monotonic()
    startup = started - begun
    try:
        result = pipeline.run()
        # The state wait_until_finish returns, not result.state: a --dry_run result claims DONE but
        # returns None here, and must not go looking for outputs it never wrote.
        state = result.wait_until_finish() if result is not None else None
    finally:
        progress.stop(job.progress.run_id)
    elapsed = time.monotonic() - started
    if state != PipelineState.DONE:
        print(f"job state {state} after {elapsed:.0f} s; results will be in {job.output}", file=sys.stderr)
        return 0

    funnel = read_stats(job.output)
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in timings.items())
    print(f"\nfinished in {elapsed:.1f} s, after {startup:.1f} s of start-up ({steps})"
          f"\n{format_funnel(funnel)}\n")
    out = funnel["output"]
    tokens = "".join(f", {s['folder']}/ ({s['tokens']:,} tokens)" for s in out.get("token_shards", {}).values())
    print(f"wrote {out['rows']:,} documents in {len(out['shards'])} file(s) to {job.output}/ "
          f"(data/, README.md{', report.html' if job.recipe.output.report else ''}, stats.json, recipe.yaml, errors/{tokens})")
    if funnel["identity_problems"]:
        print("error: the funnel does not balance: " + "; ".join(funnel["identity_problems"]), file=sys.stderr)
        return 1
    errors = sum(funnel["errors"].values())
    if errors > job.recipe.max_error_rate * funnel["read"]:
        print(f"error: {errors} of {funnel['read']} records failed ({errors / funnel['read']:.1%}), more than "
              f"max_error_rate {job.recipe.max_error_rate:.1%}; see {job.output}/errors/ for the files and reasons "
              "(raise max_error_rate with --set max_error_rate=0.1 to accept them)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
