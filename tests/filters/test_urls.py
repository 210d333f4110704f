"""How the URL filter reads a URL (filters/urls.py): the one host spelling a block list is compared in, the
domains and paths an entry can name, the word tokens.

Every normalization is here because the two sides of a lookup come from different writers: a crawler
writes ``https://WWW.Example.com.:443/…`` or an IDN in unicode, UT1's maintainers write ``example.com`` or
the punycode. Each case is one a real crawl or list has.
"""

from __future__ import annotations

import pytest

from filters.urls import candidate_domains, candidate_paths, normalize_host, split_url, squash, tokens, url_key


@pytest.mark.parametrize("host, expected", [
    ("example.com", "example.com"),
    ("EXAMPLE.com", "example.com"),                      # case
    ("example.com.", "example.com"),                     # trailing dot (the fully qualified spelling)
    ("example.com:8080", "example.com"),                 # port
    ("example.com.:8080", "example.com"),                # both, in the order they are written
    ("example.com:", "example.com"),                     # empty port
    ("www.example.com", "example.com"),                  # www.
    ("WWW.Example.COM.:443", "example.com"),
    ("www.com", "www.com"),                              # www is the name itself here
    ("www2.example.com", "www2.example.com"),            # only the exact label www. goes
    ("[2001:DB8::1]:443", "[2001:db8::1]"),              # IPv6 literal: case and port, brackets kept
    ("[2001:db8::1]", "[2001:db8::1]"),
    ("[::1", "[::1"),                                    # unbalanced bracket: left alone, no exception
    ("93.184.216.34:80", "93.184.216.34"),               # IPv4 with a port
    ("bücher.de", "xn--bcher-kva.de"),                   # IDN → punycode
    ("BÜCHER.de", "xn--bcher-kva.de"),                   # … after lower-casing the unicode
    ("www.bücher.de.:8080", "xn--bcher-kva.de"),         # … and everything else at once
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),            # punycode stays punycode
    ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
    ("日本。jp", "xn--wgv71a.jp"),                        # the ideographic full stop is a label separator
    ("Ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"),                # full-width letters fold (IDNA nameprep)
    ("bücher..de", "xn--bcher-kva..de"),                 # the IDNA codec refuses an empty label: per label
    ("  example.com ", "example.com"),
    ("", ""),
])
def test_normalize_host(host, expected):
    assert normalize_host(host) == expected


def test_normalize_host_is_idempotent():
    for host in ("WWW.Bücher.DE.:80", "[2001:DB8::1]:443", "www.com", "example.com.", "日本。jp"):
        once = normalize_host(host)
        assert normalize_host(once) == once


def test_idna_2008_deviation_characters_keep_their_punycode():
    assert normalize_host("straße.de") == "xn--strae-oqa.de"
    assert normalize_host("straße.de") == normalize_host("xn--strae-oqa.de")


@pytest.mark.parametrize("url, host, path", [
    ("https://example.com/", "example.com", ""),
    ("https://example.com", "example.com", ""),
    ("HTTPS://EXAMPLE.COM/Dir/Page.HTML", "example.com", "/dir/page.html"),      # path compared in lower case
    ("https://user:pw@www.example.com:8080/a", "example.com", "/a"),              # user info, www, port
    ("http://user@evil.example@example.com/a", "example.com", "/a"),              # the last @ ends user info
    ("https://example.com/@user/post", "example.com", "/@user/post"),             # an @ in the path is path
    ("https://example.com/a/b/?Q=1#Frag", "example.com", "/a/b/?q=1"),           # query kept, fragment dropped
    ("https://example.com?q=1", "example.com", "/?q=1"),                          # query right after the host
    ("https://example.com#top", "example.com", ""),
    ("https://example.com/a#b/c", "example.com", "/a"),
    ("https://example.com/dir/", "example.com", "/dir"),                          # trailing slash
    ("example.com/dir/page", "example.com", "/dir/page"),                         # scheme-less (UT1's url entries)
    ("www.example.com", "example.com", ""),
    ("https://[2001:db8::1]:443/p", "[2001:db8::1]", "/p"),
    ("http://93.184.216.34/", "93.184.216.34", ""),
    ("<https://soldaini.net/>", "soldaini.net", ""),                             # WARC/1.0's <…> form
    ("  https://example.com/a/  ", "example.com", "/a"),
    ("https://", "", ""),
    ("", "", ""),
    ("file:///example with spaces.png", "", "/example with spaces.png"),       # no host
])
def test_split_url(url, host, path):
    assert split_url(url) == (host, path)


def test_scheme_less_url_with_a_url_in_its_query():
    assert split_url("a.com/?u=http://evil.com") == ("a.com", "/?u=http://evil.com")


def test_network_path_reference():
    assert split_url("//example.com/x") == ("example.com", "/x")


@pytest.mark.parametrize("host, expected", [
    ("a.b.example.com", ["a.b.example.com", "b.example.com", "example.com", "com"]),
    ("example.com", ["example.com", "com"]),            # UT1 lists whole top-level domains (xxx, porn)
    ("example.co.uk", ["example.co.uk", "co.uk", "uk"]),  # no public-suffix knowledge: co.uk is a candidate name
    ("localhost", ["localhost"]),
    ("93.184.216.34", ["93.184.216.34"]),               # an IP has no parents (not 184.216.34, 216.34)
    ("[2001:db8::1]", ["[2001:db8::1]"]),
    ("", []),
])
def test_candidate_domains(host, expected):
    assert candidate_domains(host) == expected


def test_a_parent_never_yields_its_subdomains_or_lookalikes():
    assert "sub.example.com" not in candidate_domains("example.com")
    assert "example.com" not in candidate_domains("notexample.com")
    assert "example.com" not in candidate_domains("example.com.evil.net")


@pytest.mark.parametrize("url, expected", [
    ("https://host.com/dir/page.html", ["host.com/dir", "host.com/dir/page.html"]),
    ("https://host.com/a/b/c", ["host.com/a", "host.com/a/b", "host.com/a/b/c"]),
    ("https://host.com/directory", ["host.com/directory"]),            # not host.com/dir: / boundaries only
    ("https://host.com/dir/?x=1", ["host.com/dir", "host.com/dir/?x=1"]),
    ("https://host.com/dir/page?x=1#f", ["host.com/dir", "host.com/dir/page", "host.com/dir/page?x=1"]),
    ("https://host.com/", []),                                         # the root is the domain lists' job
])
def test_candidate_paths(url, expected):
    assert set(candidate_paths(*split_url(url))) == set(expected)  # a repeated key is harmless


@pytest.mark.parametrize("entry, key", [
    ("host.com/dir", "host.com/dir"),
    ("www.Host.com/Dir/", "host.com/dir"),              # normalized like the URLs it is compared with
    ("https://host.com/dir", "host.com/dir"),
    ("bücher.de/Seite", "xn--bcher-kva.de/seite"),
    # A real UT1 url entry (urls.gz): upper case in its path, matched case-insensitively.
    ("br.ifunny.co/picture/83-azandra-please-read-this-definition-of-hardcore-yornography-define-gtMMz7g28",
     "br.ifunny.co/picture/83-azandra-please-read-this-definition-of-hardcore-yornography-define-gtmmz7g28"),
])
def test_url_key(entry, key):
    assert url_key(entry) == key


def test_every_url_entry_is_a_candidate_of_the_page_it_names_and_of_pages_under_it():
    for entry in ("host.com/dir", "tumblr.com/sloppy-strapon/184621283147", "dittibaer.de/blog"):
        key = url_key(entry)
        for url in (f"https://{entry}", f"http://www.{entry}/", f"https://{entry}/deeper/page.html",
                    f"https://{entry.upper()}?utm=1", f"{entry}#fragment"):
            assert key in candidate_paths(*split_url(url)), url
        assert key not in candidate_paths(*split_url(f"https://{entry}x/page")), entry


def test_tokens_lower_case_and_split_on_every_non_alphanumeric_run():
    assert tokens("https://www.Example.com/Porn-Site_2/a%20b?q=ü") == {
        "https", "www", "example", "com", "porn", "site", "2", "a", "20b", "q", ""}


def test_squash_glues_words_for_subword_search():
    assert squash("2 girls 1 cup") == "2girls1cup"
    assert squash("https://www.2Girls-1Cup.com/") == "httpswww2girls1cupcom"
    assert squash("  ") == ""
