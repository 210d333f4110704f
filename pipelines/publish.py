"""Publish a finished dataset folder to a dataset repo on the Hugging Face Hub.

    python -m pipelines.publish OUTPUT_DIR --repo-id ORG/NAME [--private]
        [--revision BRANCH] [--commit-message MSG] [--dry-run]

OUTPUT_DIR is what ``python -m pipelines.run`` writes: README.md (the dataset
card, YAML front matter included), data/train-*.parquet, stats.json,
recipe.yaml and possibly arrow/ and errors/. Every file in it is uploaded
except hidden ones (a path part that starts with "."), such as .cache/.

Design choices, and why:

* The folder is checked before anything goes over the network, because a
  half-made dataset on the Hub is worse than a clear local error.
* Everything goes in ONE commit (``HfApi.create_commit``), not
  ``upload_folder``: with hf_xet installed, huggingface_hub 2.x's
  ``upload_folder`` may split a folder into several commits ("part 2", ...)
  and retries failed commits, so readers could see a dataset with only some
  of its shards. One commit is all or nothing.
* The token comes from HF_TOKEN or ``hf auth login``, never from the command
  line (argv shows up in ``ps`` and shell history). It is never printed:
  every error message is scrubbed of it before it is shown.
* Without ``--private`` the repo is created with the namespace's default
  visibility rather than forced public, so an organisation that defaults to
  private never gets a crawl published publicly by accident.

Exit status: 0 on success, 2 when the folder, the arguments or the token are
not usable (nothing was sent), 1 when the Hub refused or failed the upload.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token, metadata_load
from huggingface_hub.utils import HFValidationError, validate_repo_id

REPO_TYPE = "dataset"


class PublishError(Exception):
    """A problem the user can fix (folder, arguments, token); shown without a traceback."""


@dataclass(frozen=True)
class UploadPlan:
    """What will be uploaded, computed once so the dry run and the real run agree."""

    folder: Path
    files: tuple[tuple[str, Path, int], ...]  # (path in repo, local path, size in bytes)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, _, size in self.files)


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _redact(text: str, token: str | None) -> str:
    """Remove the token from text that is about to be shown (a server may echo headers back)."""
    return text.replace(token, "***") if token else text


def _config_patterns(card: dict) -> list[str]:
    """The data_files patterns of the card's `configs`, in any of the forms the Hub accepts."""
    patterns: list[str] = []
    for config in card.get("configs") or []:
        entries = config.get("data_files") if isinstance(config, dict) else None
        for entry in entries if isinstance(entries, list) else [entries]:
            paths = entry.get("path") if isinstance(entry, dict) else entry
            patterns += [paths] if isinstance(paths, str) else [p for p in paths or [] if isinstance(p, str)]
    return patterns


def plan_upload(output_dir: str | Path) -> UploadPlan:
    """Check that output_dir is a finished dataset and list the files to upload.

    Raises PublishError naming the folder and what to do, so a wrong path or an
    unfinished run is caught before any network call.
    """
    folder = Path(output_dir).expanduser().resolve()
    hint = "run `python -m pipelines.run` first, or pass the folder it wrote"
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder; {hint}.")
    readme = folder / "README.md"
    if not readme.is_file():
        raise PublishError(f"{folder} has no README.md (the dataset card); {hint}.")
    try:
        card = metadata_load(readme)
    except Exception as err:  # malformed YAML
        raise PublishError(f"{readme} has a YAML front matter that does not parse ({err}); fix or regenerate it.") from err
    if not card:
        raise PublishError(
            f"{readme} has no YAML front matter (a '---' block with license, configs, ...); "
            f"regenerate the card with `python -m pipelines.run`."
        )

    files = tuple(
        (path.relative_to(folder).as_posix(), path, path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    outside = [name for name, path, _ in files if not path.resolve().is_relative_to(folder)]
    if outside:  # a symlink to /home/me/.cache/huggingface/token must never be uploaded
        raise PublishError(f"{folder} holds links that point outside it: {', '.join(outside[:5])}; remove them.")
    names = [name for name, _, _ in files]
    if not any(name.startswith("data/") for name in names):
        raise PublishError(f"{folder} has no data files under data/; {hint}.")
    for pattern in _config_patterns(card):
        if not fnmatch.filter(names, pattern):
            raise PublishError(
                f"{readme} declares data_files {pattern!r} but no file in {folder} matches it; "
                f"the Hub could not load the dataset. Regenerate the card or the data."
            )
    return UploadPlan(folder=folder, files=files)


def _resolve_token(token: str | None) -> str:
    """Use the given token, else HF_TOKEN, else the one saved by `hf auth login`."""
    token = token or get_token()
    if not token:
        raise PublishError(
            "no Hugging Face token found: set HF_TOKEN to a token with write access, "
            "or run `hf auth login`."
        )
    return token


def publish(
    output_dir: str,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Upload output_dir to the dataset repo repo_id in one commit and return the commit URL.

    The repo is created if missing (exist_ok, so re-publishing updates it); an
    existing repo keeps its visibility. A --revision branch is created from
    main if it does not exist yet, since committing to a missing branch fails.
    Errors from huggingface_hub propagate; callers must not print them without
    `_redact` (main does this).
    """
    plan = plan_upload(output_dir)
    token = _resolve_token(token)
    api = HfApi(token=token)

    repo_url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=True if private else None, exist_ok=True)
    if revision and revision != "main" and not revision.startswith("refs/"):
        api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True)

    print(
        f"Uploading {len(plan.files)} files ({_format_bytes(plan.total_bytes)}) from {plan.folder} "
        f"to {repo_url} (revision {revision or 'main'})",
        flush=True,
    )
    info = api.create_commit(
        repo_id,
        operations=[CommitOperationAdd(path_in_repo=name, path_or_fileobj=path) for name, path, _ in plan.files],
        commit_message=commit_message or f"Publish {plan.folder.name} ({len(plan.files)} files)",
        repo_type=REPO_TYPE,
        revision=revision,
    )
    print(f"Published {repo_url}\nCommit: {info.commit_url}", flush=True)
    return info.commit_url


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.publish",
        description="Upload a finished dataset folder to a Hugging Face Hub dataset repo. "
        "The token is read from HF_TOKEN or `hf auth login`.",
    )
    parser.add_argument("output_dir", help="folder written by `python -m pipelines.run`")
    parser.add_argument("--repo-id", required=True, help="dataset repo, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repo private (ignored if it exists)")
    parser.add_argument("--revision", help="branch to commit to (created if missing); default main")
    parser.add_argument("--commit-message", help="commit summary")
    parser.add_argument("--dry-run", action="store_true", help="validate and list the files; send nothing")
    args = parser.parse_args(argv)
    try:
        validate_repo_id(args.repo_id)
        if args.repo_id.count("/") != 1:
            raise HFValidationError("expected ORG/NAME")
    except HFValidationError as err:
        parser.error(f"--repo-id {args.repo_id!r} is not a valid ORG/NAME repo id ({err})")
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status instead of raising, so no traceback can show the token."""
    args = _parse_args(argv)
    token: str | None = None
    try:
        plan = plan_upload(args.output_dir)  # folder problems first: they need no token to report
        if args.dry_run:
            for name, _, size in plan.files:
                print(f"  {name}  {_format_bytes(size)}")
            print(
                f"Dry run: would upload {len(plan.files)} files ({_format_bytes(plan.total_bytes)}) "
                f"to dataset {args.repo_id} (revision {args.revision or 'main'}); nothing was sent."
            )
            return 0
        token = _resolve_token(None)
        publish(
            args.output_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            token=token,
        )
        return 0
    except PublishError as err:
        print(f"error: {_redact(str(err), token)}", file=sys.stderr)
        return 2
    except Exception as err:  # huggingface_hub / network errors: message only, scrubbed
        message = _redact(f"{type(err).__name__}: {err}", token)
        print(f"error: publishing {args.output_dir} to {args.repo_id} failed: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
