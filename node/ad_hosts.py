"""Hosts that serve ads and ad tracking, blocked for sessions with `block_ads`.

A short, hand-kept list of the large ad networks (no list is fetched at run time: nodes may
have no internet beyond the sites their sessions visit). Each host is blocked with its
subdomains. It catches the bulk of ad traffic on typical pages, not everything an EasyList-class
filter would.
"""

from __future__ import annotations

AD_HOSTS = (
    "doubleclick.net", "googlesyndication.com", "googleadservices.com", "adservice.google.com",
    "googletagservices.com", "amazon-adsystem.com", "adnxs.com", "adsrvr.org", "criteo.com",
    "criteo.net", "taboola.com", "outbrain.com", "pubmatic.com", "rubiconproject.com",
    "openx.net", "casalemedia.com", "indexww.com", "smartadserver.com", "adform.net",
    "yieldmo.com", "sharethrough.com", "teads.tv", "triplelift.com", "media.net", "33across.com",
    "moatads.com", "scorecardresearch.com", "quantserve.com", "serving-sys.com", "bidswitch.net",
    "contextweb.com", "lijit.com", "sovrn.com", "gumgum.com", "zemanta.com", "revcontent.com",
    "mgid.com", "adroll.com", "advertising.com", "adsafeprotected.com", "doubleverify.com",
    "ads.yahoo.com", "ads-twitter.com", "ads.linkedin.com", "an.facebook.com",
)


def url_patterns() -> list[str]:
    """CDP Fetch urlPatterns for every host and its subdomains."""
    return [p for host in AD_HOSTS for p in (f"*://{host}/*", f"*://*.{host}/*")]
