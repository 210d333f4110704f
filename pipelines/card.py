"""The dataset card (README.md) written next to the shards, built with huggingface_hub's DatasetCard.

The YAML header is what the Hub and ``datasets.load_dataset(output_dir)`` read: ``configs`` points at
the Parquet shards so the extra files (stats.json, recipe.yaml, errors/) are never mistaken for data.
The body says how the data was made: the funnel, the recipe, the schema.
"""

from __future__ import annotations

from huggingface_hub import DatasetCard, DatasetCardData

from pipelines.stats import format_funnel
from pipelines.write import DATA_DIR, SPLIT, SYNTHETIC_DIR
from schemas import COLUMNS, PROVENANCE_FIELDS, SCHEMA_VERSION, SYNTHETIC_COLUMNS

_SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
]


def size_category(rows: int) -> str:
    return next((label for bound, label in _SIZE_CATEGORIES if rows < bound), "n>1T")


def card_data(recipe, rows: int, synthetic: bool = False) -> DatasetCardData:
    extra = {}
    configs = [{"config_name": "default", "data_files": [{"split": SPLIT, "path": f"{DATA_DIR}/{SPLIT}-*"}],
                "default": True}]
    if synthetic:
        configs.append({"config_name": "synthetic",
                        "data_files": [{"split": SPLIT, "path": f"{SYNTHETIC_DIR}/{SPLIT}-*"}]})
    if recipe.license == "other":
        extra = {"license_name": "web-crawl-mixed"}
    return DatasetCardData(
        license=recipe.license,
        language=list(recipe.language.keep) or None,
        size_categories=[size_category(rows)],
        task_categories=["text-generation"],
        pretty_name=f"{recipe.name} web corpus",
        tags=["web", "pretraining", "common-crawl"],
        configs=configs,
        **extra,
    )


def _cutoffs(recipe) -> str:
    cfg = recipe.perplexity
    if cfg.bucket_cutoffs:
        return "perplexity " + " / ".join(f"{c:g}" for c in cfg.bucket_cutoffs)
    corpus = "this corpus's distinct texts (after exact dedup)" if recipe.dedup.exact.enabled else "this corpus"
    return "percentiles " + " / ".join(f"{p:g}" for p in cfg.bucket_percentiles) + " of " + corpus


def render_card(recipe, stats: dict, annotate_only: bool) -> str:
    rows = stats["output"]["rows"]
    synth = stats.get("synthetic")
    data = card_data(recipe, rows, synthetic=bool(synth))
    mode = (
        "**Annotate-only run**: every document is present with all its scores and the `decision` it would get; "
        "filter with `decision == 'keep'` to get the curated set."
        if annotate_only
        else "Only documents whose `decision` is `keep` are included."
    )
    shards = stats["output"]["shards"]
    rules = []
    for stage in ("gopher_repetition", "gopher_quality", "c4", "fineweb", "refinedweb"):
        cfg = recipe.heuristics.stage(stage)
        if cfg.enabled:
            rules.append(f"| {stage} | " + "; ".join(f"`{r}` ({r.name})" for r in recipe.heuristics.rules(stage)) + " |")
    columns = "\n".join(f"| `{name}` | {desc} |" for name, (_, desc) in COLUMNS.items())
    licence_note = (
        "\nThe text comes from third-party web pages; each page keeps its own rights. Check what your use "
        "allows before redistributing.\n"
        if recipe.license == "other"
        else ""
    )
    body = f"""
# {data.pretty_name}

{recipe.description.strip()}

{mode}

- **Rows:** {rows:,} in {len(shards)} Parquet shard(s) (`{DATA_DIR}/{SPLIT}-*.parquet`, {recipe.output.compression})
- **Recipe:** `{recipe.name}` (hash `{recipe.hash}`), full text in `recipe.yaml`
- **Schema version:** {SCHEMA_VERSION}
{licence_note}
## Load it

```python
from datasets import load_dataset
ds = load_dataset("path/or/org-name", split="train")
```

## How it was made: the funnel

Every record read ends in exactly one outcome: `read = kept + Σ dropped + Σ errors`.

```
{format_funnel(stats)}
```

## Recipe

| step | setting |
|---|---|
| extraction | {recipe.extract.engine} (timeout {recipe.extract.timeout_s:g} s, max {recipe.extract.max_html_bytes:,} bytes of HTML) |
| language | keep {", ".join(recipe.language.keep) or "all"} with fastText lid.176 score ≥ {recipe.language.min_score:g} |
| quality model | {"fastText " + (recipe.quality.model or "quality_en.ftz (shipped)") + ", score = P(high quality)" + ("; rules: " + ", ".join(f"`{r}`" for r in recipe.quality.parsed_rules()) if recipe.quality.rules else "; annotate only") if recipe.quality.enabled else "off"} |
| perplexity | {("KenLM " + (recipe.perplexity.model or "kenlm_en_wiki.binary (shipped)") + f", CCNet buckets at {_cutoffs(recipe)}" + (f"; keeps the {recipe.perplexity.select} band at rate {recipe.perplexity.select_rate:g}" if recipe.perplexity.select != "none" else "")) if recipe.perplexity.enabled else "off"} |
| exact dedup | {"on, kept copy = first by " + ", ".join(recipe.dedup.exact.order) if recipe.dedup.exact.enabled else "off"} |
| near dedup | {f"MinHash LSH, Jaccard ≥ {recipe.dedup.near.threshold:g}, {recipe.dedup.near.num_perm} permutations, word {recipe.dedup.near.ngram}-grams; kept copy = highest quality, then id" if recipe.dedup.near.enabled else "off"} |

A document is kept when every rule holds (rule name in parentheses; a failing rule is the drop reason
`stage:rule`):

| stage | rules |
|---|---|
{chr(10).join(rules)}

## Columns

| column | meaning |
|---|---|
{columns}

`stats.json` holds the funnel per input file; `errors/` lists the records that could not be processed.
{synthetic_section(recipe, synth) if synth else ""}"""
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def synthetic_section(recipe, synth: dict) -> str:
    """The ``synthetic`` config: how the rewrites were made, what the checks rejected, how to mix."""
    from pipelines.stats import format_synthetic

    cfg = recipe.synth
    out = synth["output"]
    columns = "\n".join(f"| `{name}` | {desc} |" for name, (_, desc) in SYNTHETIC_COLUMNS.items()
                        if name not in COLUMNS or desc != COLUMNS[name][1])
    members = "\n".join(f"| `provenance.{name}` | {desc} |" for name, (_, desc) in PROVENANCE_FIELDS.items())
    funnel = "\n".join(format_synthetic(synth))
    return f"""
## The `synthetic` config: MAGA reformulations

{out['rows']:,} rewrite(s) in {len(out['shards'])} Parquet shard(s) (`{SYNTHETIC_DIR}/{SPLIT}-*.parquet`):
{f"kept documents with `{cfg.select}`" if cfg.select else "all kept documents"}{f" (at most {cfg.max_documents:,}, chosen by id hash)" if cfg.max_documents else ""},
rewritten by `{synth['model']}` ({synth['backend']}) for {cfg.n_pairs} (genre, audience) pairs each that
the model proposed (MAGA, arXiv 2502.04235), then checked for faithfulness and form (empty, truncated,
refusal, echo of the prompt, length ratio, keyword coverage, verbatim copying{", LLM judge" if cfg.judge else ""}).
Every row says where it came from and how it was made in `provenance`. Choose the mix yourself:

```python
from datasets import load_dataset
curated = load_dataset("path/or/org-name", "default", split="train")
synthetic = load_dataset("path/or/org-name", "synthetic", split="train")
```

```
{funnel}
```

Columns are those of the default config; these differ:

| column | meaning |
|---|---|
{columns}
{members}
"""
