"""The dataset card (README.md) written next to the shards, built with huggingface_hub's DatasetCard.

The YAML header is what the Hub and ``datasets.load_dataset(output_dir)`` read: ``configs`` points at
the Parquet shards so the extra files (stats.json, recipe.yaml, errors/) are never mistaken for data.
The body says how the data was made: the funnel, the recipe, the schema.
"""

from __future__ import annotations

from huggingface_hub import DatasetCard, DatasetCardData

from pipelines.registry import STAGES, section
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


def recipe_rows(recipe) -> list[str]:
    """The card's recipe table: one row per stage that has a line in the card, in stage order."""
    rows = []
    for spec in STAGES:
        if spec.card_label:
            cfg = section(recipe, spec.section)
            rows.append(f"| {spec.card_label} | {spec.card(cfg, recipe) if spec.enabled(cfg) else 'off'} |")
    return rows


def rule_rows(recipe) -> list[str]:
    """The card's rule table: the rules of every enabled stage that lists them there (the heuristics)."""
    rows = []
    for spec in STAGES:
        cfg = section(recipe, spec.section)
        if spec.rules_in_card and spec.enabled(cfg):
            rows.append(f"| {spec.name} | " + "; ".join(f"`{r}` ({r.name})" for r in spec.rules(cfg)) + " |")
    return rows


def charts_section(images: list[str]) -> str:
    """The report's main charts, as PNGs beside the card; report.html has them all, and examples."""
    if not images:
        return ""
    pictures = "\n".join(f"![{path.rsplit('/', 1)[-1].removesuffix('.png')}]({path})" for path in images)
    return f"""
## Charts

{pictures}

`report.html` (one self-contained page) has every stage's score distributions with the recipe's
thresholds, languages, CCNet buckets, duplicate cluster sizes and examples of what each rule dropped.
"""


def render_card(recipe, stats: dict, annotate_only: bool, images: list[str] = ()) -> str:
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

{_tokens_line(stats)}- **Rows:** {rows:,} in {len(shards)} Parquet shard(s) (`{DATA_DIR}/{SPLIT}-*.parquet`, {recipe.output.compression})
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
{charts_section(list(images))}
## Recipe

| step | setting |
|---|---|
{chr(10).join(recipe_rows(recipe))}

A document is kept when every rule holds (rule name in parentheses; a failing rule is the drop reason
`stage:rule`):

| stage | rules |
|---|---|
{chr(10).join(rule_rows(recipe))}

## Columns

| column | meaning |
|---|---|
{columns}

`stats.json` holds the funnel per input file; `errors/` lists the records that could not be processed.
{token_section(stats) if _has_token_shards(stats) else ""}{synthetic_section(recipe, synth) if synth else ""}"""
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def _tokens_line(stats: dict) -> str:
    """The card's first fact: how many tokens, under which tokenizer (none when tokenize is off)."""
    tokenizer = stats.get("tokenizer")
    if not tokenizer:
        return ""
    synthetic = stats.get("synthetic", {}).get("output", {}).get("tokens")
    extra = f" (+ {synthetic:,} in the `synthetic` config)" if synthetic is not None else ""
    kept = " of kept documents" if stats.get("annotate_only") else ""
    return (f"- **Tokens:** {stats['output']['tokens']:,}{kept}{extra} under `{tokenizer['name']}` "
            f"({tokenizer['kind']}, sha256 `{tokenizer['sha256'][:16]}`), text only: no BOS/EOS\n")


def _has_token_shards(stats: dict) -> bool:
    return bool(stats["output"].get("token_shards")
                or stats.get("synthetic", {}).get("output", {}).get("token_shards"))


def document_markers(tokenizer: dict) -> str:
    """How each document is laid out in the token shards, in words (BOS and EOS as the tokenizer says)."""
    bos = " ".join(f"`{b['text']}` ({b['id']})" for b in tokenizer["bos"])
    eos = tokenizer["eos"]
    start = f"BOS {bos}, then its" if bos else "its"
    no_bos = "" if bos else f"; no BOS, as `{tokenizer['name']}` puts none before a text"
    return f"{start} `{tokenizer['name']}` tokens, then EOS `{eos['text']}` ({eos['id']}){no_bos}"


def token_section(stats: dict) -> str:
    """Token shards for trainers: where, in which dtype, how each document is laid out, how to point the
    three trainers at them."""
    tokenizer = stats["tokenizer"]
    configs = [("default", stats["output"].get("token_shards", {}))]
    if "synthetic" in stats:
        configs.append(("synthetic", stats["synthetic"]["output"].get("token_shards", {})))
    rows = "\n".join(f"| {name} | {fmt} | `{s['folder']}/` | {s['dtype']} | {s['documents']:,} | {s['tokens']:,} |"
                     for name, shards in configs for fmt, s in shards.items())
    kept = " (kept documents only)" if stats.get("annotate_only") else ""
    return f"""
## Train on the tokens

One token shard per Parquet shard that has documents, same name and row order{kept}: Megatron's `.bin` + `.idx` (MMIDIDX v1)
and nanotron's (datatrove's) `.ds` + `.ds.index` + `.ds.metadata`, which OLMo-core reads too. Each document
is {document_markers(tokenizer)}.

| config | format | folder | dtype | documents | tokens (with markers) |
|---|---|---|---|---|---|
{rows}
"""


def _corpus_checks(recipe) -> str:
    """The corpus stages a rewrite goes through, in words (``registry.synthetic_checks``)."""
    from pipelines.registry import synthetic_checks

    before, after = synthetic_checks(recipe)
    names = [spec.name for spec, _ in before]
    if recipe.dedup.exact.enabled or recipe.dedup.near.enabled:
        kinds = " and ".join(k for k, on in (("exact", recipe.dedup.exact.enabled), ("near", recipe.dedup.near.enabled)) if on)
        names.append(f"{kinds} dedup against the curated documents and the other rewrites")
    names += [spec.name for spec, _ in after]
    return ", ".join(names) or "none (every corpus stage is off)"


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
the model proposed (MAGA, arXiv 2502.04235){f", places its proposals left filled from the curated catalogue `{cfg.pair_catalogue}` ({synth.get('pairs_catalogue', 0):,} pairs)" if cfg.pair_catalogue else ""},
each rewrite stopping at {f"{cfg.rewrite_budget:g} × its source's tokens (cut back to its last sentence)" if cfg.rewrite_budget else f"{cfg.rewrite_max_tokens:,} tokens"};
then checked for faithfulness and form (empty, refusal, echo of the prompt, length ratio, keyword coverage,
verbatim copying{", LLM judge" if cfg.judge else ""}) and held to the corpus's own bar: {_corpus_checks(recipe)}.
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
