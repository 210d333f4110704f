"""RefinedWeb's first stage and FineWeb's first step: drop pages by their URL before anything parses them.

Three checks, each a score so a recipe rule decides and an annotate-only row keeps them all
(``scores.url``):

* **block lists** (RefinedWeb App. G.1, FineWeb): the URL's host or a parent domain is in a UT1 category's
  ``domains`` (``blocklist_domain``), or the page or a parent path is in its ``urls`` (``blocklist_url``);
* **URL words** (FineWeb's lists, as datatrove's ``URLFilter`` uses them): hard-banned words among the
  URL's word tokens (``banned_words``), banned subwords anywhere in the squashed URL, so words glued into
  a host name are found (``banned_subwords``), and how many distinct soft-banned words appear
  (``soft_banned_words``; FineWeb drops at 2);
* **excluded domains** (RefinedWeb Table 14): domains the corpus takes from curated sources instead
  (Wikipedia, arXiv, …), off unless the recipe lists them (``excluded_domain``).

A document without a URL (a JSONL input with none) gets null scores: the rules abstain.

``UrlFilter.score`` takes a batch: the domain and path lookups of the whole batch are one
``np.searchsorted`` each (``filters.url_lists.KeySet``), and the word lists are Aho-Corasick automata
(pyahocorasick, as datatrove) run once over the batch rather than per URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from filters import url_lists
from filters.url_lists import KeySet
from filters.urls import candidate_domains, candidate_paths, split_url


@dataclass
class UrlLists:
    """Everything the filter compares against, loaded once per worker. ``url_hosts``: the hosts that have
    URL entries (a URL is looked up under its paths only when its host is one; None: always)."""

    domains: KeySet
    urls: KeySet
    banned_words: frozenset[str] = frozenset()
    soft_banned_words: frozenset[str] = frozenset()
    banned_subwords: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    url_hosts: KeySet | None = None

    @property
    def nbytes(self) -> int:
        return self.domains.nbytes + self.urls.nbytes + (self.url_hosts.nbytes if self.url_hosts else 0)


class UrlFilter:
    """Scores URLs against ``UrlLists``; safe to share between threads (it reads the lists, and its cache of
    host lookups changes by single dict operations, atomic in CPython).

    Per batch, everything that can be is done once for all URLs: the hosts are hashed and looked up
    together, and the word lists are matched by two Aho-Corasick automata run over the whole batch's
    URLs joined by line breaks (which no entry contains, so no match spans two URLs): one for the words,
    whose matches count when they are whole tokens (a maximal run of ASCII letters and digits), one for
    the subwords over the squashed URLs. Matches are rare, so the Python work per URL is parsing it."""

    def __init__(self, lists: UrlLists, cache_hosts: int = 1 << 16):
        self.lists = lists
        words = {w: (w, w in lists.banned_words, w in lists.soft_banned_words)
                 for w in lists.banned_words | lists.soft_banned_words}
        self.words = _automaton(words)
        self.subwords = _automaton({w: w for w in lists.banned_subwords})
        # host -> (a listed domain covers it, it has URL entries): a crawl fetches many pages per host
        self.hosts: dict[str, tuple[bool, bool]] = {}
        self.cache_hosts = cache_hosts

    def score(self, urls: Sequence[str | None]) -> list[dict[str, float] | None]:
        """One dict of scores per URL (``filters.registry.URL_SCORES``; None for a missing or empty URL)."""
        urls = [u.replace("\n", " ") if u else "" for u in urls]
        parsed = [split_url(u) if u else ("", "") for u in urls]
        known = self._hosts([h for h, _ in parsed])
        lists = self.lists
        url_hit = _any(lists.urls, [candidate_paths(h, p) if h and known[h][1] else [] for h, p in parsed])
        text = "\n".join(urls).lower()
        banned, soft = self._words(text)
        subwords = self._subwords(text)
        out: list[dict[str, float] | None] = []
        for i, (host, _) in enumerate(parsed):
            if not host:
                out.append(None)
                continue
            out.append({
                "blocklist_domain": float(known[host][0]),
                "blocklist_url": float(url_hit[i]),
                "banned_words": float(len(banned.get(i, ()))),
                "soft_banned_words": float(len(soft.get(i, ()))),
                "banned_subwords": float(len(subwords.get(i, ()))),
                "excluded_domain": float(bool(lists.excluded) and any(
                    d in lists.excluded for d in candidate_domains(host))),
            })
        return out

    def _hosts(self, hosts: list[str]) -> dict[str, tuple[bool, bool]]:
        """(a listed domain covers it, it has URL entries) for each host, looked up once per new host. The
        batch's answers are taken from the cache before it may be cleared, so no answer is ever missing."""
        cache = self.hosts
        known = {h: cache.get(h) for h in hosts if h}
        new = sorted(h for h, found in known.items() if found is None)
        if new:
            domain_hit = _any(self.lists.domains, [candidate_domains(h) for h in new])
            url_hosts = self.lists.url_hosts
            has_urls = (url_hosts.contains(url_lists.keys(new)) if url_hosts is not None
                        else np.ones(len(new), dtype=bool))
            found = dict(zip(new, zip(domain_hit.tolist(), has_urls.tolist())))
            known.update(found)
            if len(cache) + len(new) > self.cache_hosts:
                cache.clear()
            cache.update(found)
        return known

    def _words(self, text: str) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        """Per URL (line of ``text``), the distinct banned and soft-banned words among its tokens."""
        banned: dict[int, set[str]] = {}
        soft: dict[int, set[str]] = {}
        if self.words is None:
            return banned, soft
        starts = None
        for end, (word, is_banned, is_soft) in self.words.iter(text):
            begin = end - len(word) + 1
            if (begin and text[begin - 1] in _TOKEN_CHARS) or (end + 1 < len(text) and text[end + 1] in _TOKEN_CHARS):
                continue  # inside a longer token
            starts = _line_starts(text) if starts is None else starts
            owner = int(np.searchsorted(starts, begin, side="right")) - 1
            if is_banned:
                banned.setdefault(owner, set()).add(word)
            if is_soft:
                soft.setdefault(owner, set()).add(word)
        return banned, soft

    def _subwords(self, text: str) -> dict[int, set[str]]:
        """Per URL (line of ``text``), the distinct banned subwords anywhere in its squashed form: ASCII
        letters, digits and the line breaks kept, everything else deleted (a C-speed ``bytes.translate``)."""
        found: dict[int, set[str]] = {}
        if self.subwords is None:
            return found
        squashed = text.encode("ascii", "ignore").translate(None, _NOT_KEPT).decode("ascii")
        starts = None
        for end, word in self.subwords.iter(squashed):
            starts = _line_starts(squashed) if starts is None else starts
            owner = int(np.searchsorted(starts, end, side="right")) - 1
            found.setdefault(owner, set()).add(word)
        return found


_TOKEN_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_NOT_KEPT = bytes(b for b in range(128) if not (chr(b) in _TOKEN_CHARS or b == 10))
_NEWLINE = re.compile("\n")


def _line_starts(text: str) -> np.ndarray:
    """Where each line of ``text`` starts (URL ``i`` of a batch is line ``i``)."""
    return np.array([0] + [m.end() for m in _NEWLINE.finditer(text)], dtype=np.int64)


def _any(keyset: KeySet, names: list[list[str]]) -> np.ndarray:
    """Per URL, whether any of its names is in ``keyset``: one lookup for the whole batch."""
    counts = np.fromiter((len(n) for n in names), dtype=np.int64, count=len(names))
    if not len(keyset) or not counts.sum():
        return np.zeros(len(names), dtype=bool)
    hits = keyset.contains(url_lists.keys(name for group in names for name in group))
    owner = np.repeat(np.arange(len(names)), counts)
    return np.bincount(owner[hits], minlength=len(names)) > 0


def _automaton(entries: dict[str, object]):
    """An Aho-Corasick automaton reporting ``(end index, value)`` for each key of ``entries`` it finds."""
    if not entries:
        return None
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for word in sorted(entries):
        automaton.add_word(word, entries[word])
    automaton.make_automaton()
    return automaton


def load(blocklists: list[str] | None, categories: list[str], banned_words: str | None,
         soft_banned_words: str | None, banned_subwords: str | None, words: bool, exclude: list[str]) -> UrlLists:
    """The lists a recipe's ``url`` section names (``shipped`` or None: the shipped ones)."""
    folders = [url_lists.folder(f) for f in blocklists or [url_lists.SHIPPED_NAME]]
    found = url_lists.blocklist(folders, categories) if categories else url_lists.Blocklist(KeySet(), KeySet(), KeySet())
    shipped = url_lists.SHIPPED / "url_words"

    def words_from(path: str | None, name: str) -> frozenset[str]:
        return url_lists.word_list(path or str(shipped / name)) if words else frozenset()

    return UrlLists(
        domains=found.domains,
        urls=found.urls,
        url_hosts=found.url_hosts,
        banned_words=words_from(banned_words, "banned_words.txt"),
        soft_banned_words=words_from(soft_banned_words, "soft_banned_words.txt"),
        banned_subwords=words_from(banned_subwords, "banned_subwords.txt"),
        excluded=url_lists.domain_list(exclude),
    )
