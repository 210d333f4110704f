"""Personal data in text: e-mail addresses and public IP addresses replaced by placeholders.

FineWeb's last step (datatrove's ``PIIFormatter``) is the reference: the same e-mail pattern, IPv4
addresses kept unless ``ipaddress`` calls them global. Where this differs, on purpose:

* **Placeholders are fixed and cannot be real:** ``email@example.com`` (example.com is reserved for
  documentation, RFC 2606), ``192.0.2.1`` (TEST-NET-1, RFC 5737) and ``2001:db8::1`` (RFC 3849). datatrove
  rotates through six made-up "unused" public IPs with a counter, so which placeholder a page gets
  depends on what its worker saw before (not deterministic), and a placeholder is itself a public
  address that a second pass would replace again. Ours are not global, so a second pass changes nothing.
* **IPv6 too**, in the global unicast block (2000::/3) and IPv4-mapped public addresses; datatrove has
  no IPv6. Shorter hex-and-colon runs (``a::b``, C++'s ``abc::def``) are not in 2000::/3 and are left.
* **Not a version number:** a dotted quad right after a letter (``v1.2.3.4``), after a word like
  "version", "release" or "build", or inside a longer dotted run (``1.2.3.4.5``) is left alone; so are
  private, loopback, link-local, reserved and multicast addresses, and dates (their parts exceed 255).
* **Phone numbers**, off by default (FineWeb keeps them): international numbers written with their
  ``+`` country code and 8 to 15 digits become ``+1 555 0100`` (a fictional number range).

Everything outside a match is left byte for byte. Counts per document are the stage's scores
(``scores.pii.emails``, ``.ips``, ``.phones``; ``phones`` is null when the option is off).
"""

from __future__ import annotations

import ipaddress
import re

EMAIL_PLACEHOLDER = "email@example.com"
IPV4_PLACEHOLDER = "192.0.2.1"
IPV6_PLACEHOLDER = "2001:db8::1"
PHONE_PLACEHOLDER = "+1 555 0100"

# FineWeb's pattern (datatrove.pipeline.formatters.pii, Apache-2.0): RFC 5322's dot-atom local part,
# a domain of labels, or an address literal in brackets.
_EMAIL = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A dotted quad that is not glued to a word, another number or a longer dotted run.
_IPV4 = re.compile(rf"(?<![\w.:-]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w:-]|\.\d)")
# Hex groups with colons (and an optional IPv4 tail), checked by ``ipaddress``.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)")
_VERSION_WORD = re.compile(r"\b(?:version|ver|release|build|firmware|kernel|update|v)[.:]?\s*$", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![\w])")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def _public_v4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast


def _is_version(text: str, start: int) -> bool:
    return bool(_VERSION_WORD.search(text[max(0, start - 12):start]))


def anonymize(text: str, *, emails: bool = True, ips: bool = True, phones: bool = False
              ) -> tuple[str, dict[str, float | None]]:
    """``text`` with the personal data the options name replaced, and how many of each were replaced."""
    counts = {"emails": 0, "ips": 0}
    if emails and "@" in text:
        def email(match: re.Match) -> str:
            if match.group() == EMAIL_PLACEHOLDER:
                return EMAIL_PLACEHOLDER
            counts["emails"] += 1
            return EMAIL_PLACEHOLDER

        text = _EMAIL.sub(email, text)
    if ips:
        if "." in text:
            def ipv4(match: re.Match) -> str:
                if _is_version(text_v4, match.start()) or not _public_v4(ipaddress.IPv4Address(match.group())):
                    return match.group()
                counts["ips"] += 1
                return IPV4_PLACEHOLDER

            text_v4 = text
            text = _IPV4.sub(ipv4, text)
        if "::" in text or text.count(":") >= 7:
            def ipv6(match: re.Match) -> str:
                try:
                    address = ipaddress.IPv6Address(match.group())
                except ValueError:
                    return match.group()
                mapped = address.ipv4_mapped
                public = (_public_v4(mapped) if mapped is not None
                          else address in _GLOBAL_UNICAST and address.is_global and not address.is_multicast)
                if not public:
                    return match.group()
                counts["ips"] += 1
                return IPV6_PLACEHOLDER

            text = _IPV6.sub(ipv6, text)
    scores: dict[str, float | None] = {"emails": float(counts["emails"]), "ips": float(counts["ips"]), "phones": None}
    if phones:
        found = 0

        def phone(match: re.Match) -> str:
            nonlocal found
            digits = sum(c.isdigit() for c in match.group())
            if match.group() == PHONE_PLACEHOLDER or not 8 <= digits <= 15:
                return match.group()
            found += 1
            return PHONE_PLACEHOLDER

        if "+" in text:
            text = _PHONE.sub(phone, text)
        scores["phones"] = float(found)
    return text, scores
