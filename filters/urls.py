"""URLs as the URL filter compares them: normalized hosts, the domains and paths a list entry can name, the
word tokens of a URL.

Two spellings of one host must meet in a block list whichever of them the crawler or the list used, so a
host is compared in one canonical form (``normalize_host``): lower case, no trailing dot, no port, no
user info, no leading ``www.``, internationalized names in punycode (``bücher.de`` and ``xn--bcher-kva.de``
are the same host). A list entry names a domain and, as in squidGuard (the filter UT1's lists are written
for), every subdomain under it: a URL is looked up under its host and each parent domain
(``candidate_domains``). A URL entry (``host/path``) blocks that page and every page under that path
(``candidate_paths``).

Parsing is done by hand rather than with ``urllib.parse.urlsplit``: it is the hot loop of a stage that
must check 100k URLs per second on one core, it never raises on the malformed URLs crawls are full of
(bad ports, unbalanced brackets), and it needs only the host and the path.
"""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]{0,15}://")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def normalize_host(host: str) -> str:
    """The canonical form of a host name (see the module doc); '' for an empty host."""
    host = host.strip().lower()
    at = host.rfind("@")
    if at >= 0:
        host = host[at + 1:]
    if host.startswith("["):  # an IPv6 literal, maybe with a port: [2001:db8::1]:8080
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    if host.count(":") > 1:  # a bare IPv6 address (a list entry): the bracketed form URLs use
        return f"[{host}]"
    colon = host.rfind(":")
    if colon >= 0 and (colon == len(host) - 1 or host[colon + 1:].isdigit()):
        host = host[:colon]
    host = host.rstrip(".")
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    if not host.isascii():
        host = _punycode(host)
    return host


def _punycode(host: str) -> str:
    """An internationalized host in its ASCII (punycode) form, label by label, by IDNA 2008 with UTS #46
    mapping as browsers and crawlers write it (``straße.de`` → ``xn--strae-oqa.de``, where Python's own
    IDNA 2003 codec would give ``strasse.de``). A label the codec refuses stays as it is: it can still
    match an entry spelled the same."""
    import idna

    labels = []
    for label in host.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(idna.encode(label, uts46=True, transitional=False).decode("ascii"))
        except (idna.IDNAError, UnicodeError):
            labels.append(label)
    return ".".join(labels)


def split_url(url: str) -> tuple[str, str]:
    """(normalized host, path with its query, lower case, no fragment) of a URL with or without a scheme
    (UT1's URL entries have none; ``//host/path`` has none either). The path is '' for the site's root."""
    url = url.strip()
    if url.startswith("<") and url.endswith(">"):  # WARC/1.0's <uri> form
        url = url[1:-1]
    scheme = _SCHEME.match(url)
    if scheme:
        rest = url[scheme.end():]
    else:
        rest = url[2:] if url.startswith("//") else url
    cut = len(rest)
    for sep in "/?#":
        at = rest.find(sep)
        if 0 <= at < cut:
            cut = at
    authority, path = rest[:cut], rest[cut:]
    at = authority.rfind("@")
    if at >= 0:
        authority = authority[at + 1:]
    fragment = path.find("#")
    if fragment >= 0:
        path = path[:fragment]
    path = path.lower().rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path  # "host?query"
    return normalize_host(authority), path


def candidate_domains(host: str) -> list[str]:
    """The host and every parent domain, top-level domain included: the names under which a domain list
    can block it (``a.b.example.com`` → itself, ``b.example.com``, ``example.com``, ``com``; UT1's adult
    list names whole top-level domains: ``xxx``, ``porn``). An IP address has no parents."""
    if not host:
        return []
    if host.startswith("[") or _IPV4.match(host):
        return [host]
    names = [host]
    at = host.find(".")
    while at >= 0:
        names.append(host[at + 1:])
        at = host.find(".", at + 1)
    return names


def candidate_paths(host: str, path: str) -> list[str]:
    """The ``host/path`` keys under which a URL list can block a page: the page itself (query included)
    and every parent path at a ``/`` boundary (an entry ``host/dir`` blocks ``host/dir/page.html``, not
    ``host/directory``)."""
    if not host or not path:
        return []
    keys = []
    query = path.find("?")
    plain = path if query < 0 else path[:query]
    at = plain.find("/", 1)
    while at > 0:
        keys.append(host + plain[:at])
        at = plain.find("/", at + 1)
    keys.append(host + plain.rstrip("/"))
    if query >= 0:
        keys.append(host + path)
    return keys


def url_key(entry: str) -> str:
    """A URL list entry (``host/path``, scheme optional) as the key ``candidate_paths`` produces."""
    host, path = split_url(entry)
    return host + path


def tokens(url: str) -> set[str]:
    """The URL's words: lower case, split at every run of characters other than ASCII letters and digits
    (datatrove keeps the case, so ``/Porn/`` escapes its word list; we do not)."""
    return set(_NON_ALNUM.split(url.lower()))


def squash(text: str) -> str:
    """Lower case with everything but ASCII letters and digits removed: how word lists and URLs are compared
    for banned *subwords* (``2 girls 1 cup`` → ``2girls1cup``, found inside ``2girls1cup-video.com``)."""
    return _NON_ALNUM.sub("", text.lower())
