"""The request context: every signal a single request carries, derived lazily from plain data.

The Worker fills a `RequestData` from the JS request (headers lower-cased, `cf` as a
dict, the clock and the visitor's local time); everything here is pure and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

# Headers are classified from their first characters only: a 60 KB User-Agent must cost what a
# normal one does, and the per-isolate caches below must not hold megabytes of them.
MAX_USER_AGENT = 512
MAX_REFERER = 2048
MAX_ACCEPT_LANGUAGE = 256
CLICK_ID_PARAMS = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "twclid", "li_fat_id", "dclid")

_SEARCH_HOSTS = re.compile(
    r"(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia|startpage|qwant|naver|seznam|ask)\.[a-z.]+$"
    r"|(^|\.)search\.brave\.com$")
_SOCIAL_HOSTS = re.compile(
    r"(^|\.)(facebook|fb|instagram|twitter|x|linkedin|pinterest|reddit|tiktok|youtube|threads|mastodon\.social"
    r"|snapchat|tumblr|vk|weibo|quora)\.[a-z.]+$|^(t\.co|lnkd\.in|fb\.me|l\.facebook\.com|out\.reddit\.com)$")
_BOT_UA = re.compile(
    r"bot[/;)+_-]|bot$|\bbot\b|slackbot|discordbot|telegrambot|crawl|spider|slurp|mediapartners|facebookexternalhit|facebot|embedly|quora link preview"
    r"|bingpreview|headlesschrome|lighthouse|pagespeed|ia_archiver|python-requests|scrapy|wget|httrack|"
    r"applebot|yandex(bot|images)|baiduspider|duckduckbot|semrush|ahrefs|mj12bot|petalbot|gptbot|ccbot",
    re.IGNORECASE)
_TABLET_UA = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE_UA = re.compile(r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry|opera mini", re.IGNORECASE)


class cached_property:
    """functools.cached_property without the per-call lock CPython 3.11 takes (gone in 3.12):
    computed on first access, then a plain attribute."""

    def __init__(self, func):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@dataclass(frozen=True)
class RequestData:
    """What the adapter hands to core: plain values only."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)   # lower-case names
    cf: dict = field(default_factory=dict)                   # request.cf: country, region, city, timezone, ...
    now: float = 0.0                                         # epoch seconds
    local_hour: int | None = None                            # 0-23 in the visitor's timezone, if known
    local_weekday: int | None = None                         # 0 = Monday ... 6 = Sunday


class RequestContext:
    """Signals of one request, computed on first use."""

    def __init__(self, data: RequestData):
        self.data = data

    @cached_property
    def _url(self):
        return urlsplit(self.data.url)

    @cached_property
    def host(self) -> str:
        return (self._url.hostname or "").lower()

    @cached_property
    def is_local_http(self) -> bool:
        """Plain http on a loopback host: `wrangler dev`, where cookies cannot be Secure."""
        return self._url.scheme == "http" and self.host in ("localhost", "127.0.0.1", "::1")

    @cached_property
    def path(self) -> str:
        return self._url.path or "/"

    @cached_property
    def query(self) -> dict[str, str]:
        """First value of each query parameter."""
        params: dict[str, str] = {}
        for key, value in parse_qsl(self._url.query, keep_blank_values=True):
            params.setdefault(key, value)
        return params

    @cached_property
    def utm(self) -> dict[str, str]:
        """`utm_source=news` -> `{"source": "news"}`."""
        return {key[4:]: value for key, value in self.query.items() if key.startswith("utm_") and len(key) > 4}

    @cached_property
    def click_ids(self) -> list[str]:
        """Names of the ad click ids present (never their values)."""
        return [name for name in CLICK_ID_PARAMS if name in self.query]

    @cached_property
    def referrer(self) -> str:
        """internal | search | social | external | none"""
        return referrer_class(self.data.headers.get("referer", "")[:MAX_REFERER], self.host)

    @cached_property
    def device(self) -> str:
        """mobile | tablet | desktop | bot"""
        return device_class(self.data.headers.get("user-agent", "")[:MAX_USER_AGENT])

    @cached_property
    def language(self) -> str:
        """Primary subtag of the most preferred language, lower case; '' when absent."""
        return preferred_language(self.data.headers.get("accept-language", "")[:MAX_ACCEPT_LANGUAGE])

    @cached_property
    def save_data(self) -> bool:
        return self.data.headers.get("save-data", "").strip().lower() == "on"

    @cached_property
    def gpc(self) -> bool:
        return self.data.headers.get("sec-gpc", "").strip() == "1"

    @cached_property
    def verified_bot(self) -> bool:
        bot_management = self.data.cf.get("botManagement")
        return isinstance(bot_management, dict) and bot_management.get("verifiedBot") is True

    @cached_property
    def is_bot(self) -> bool:
        return self.verified_bot or self.device == "bot"

    def attributes(self) -> dict:
        """The `request` part of the attribute map that rule conditions and templates see."""
        cf = self.data.cf
        return {
            "path": self.path,
            "query": self.query,
            "utm": self.utm,
            "click_ids": self.click_ids,
            "referrer": self.referrer,
            "device": self.device,
            "language": self.language,
            "country": str(cf.get("country") or ""),
            "region": str(cf.get("region") or ""),
            "city": str(cf.get("city") or ""),
            "timezone": str(cf.get("timezone") or ""),
            "hour": self.data.local_hour,
            "weekday": self.data.local_weekday,
            "save_data": self.save_data,
            "gpc": self.gpc,
        }


# User agents, referrers and language headers repeat across requests: classify each once per isolate.
@lru_cache(maxsize=1024)
def referrer_class(referer: str, own_host: str) -> str:
    if not referer:
        return "none"
    try:
        host = (urlsplit(referer).hostname or "").lower()
    except ValueError:  # "http://[oops": not a URL at all
        return "none"
    if not host:
        return "none"
    if host == own_host or (own_host and host.endswith("." + own_host)):
        return "internal"
    if _SEARCH_HOSTS.search(host):
        return "search"
    if _SOCIAL_HOSTS.search(host):
        return "social"
    return "external"


@lru_cache(maxsize=1024)
def device_class(user_agent: str) -> str:
    if _BOT_UA.search(user_agent):
        return "bot"
    if _TABLET_UA.search(user_agent):
        return "tablet"
    if _MOBILE_UA.search(user_agent):
        return "mobile"
    return "desktop"


@lru_cache(maxsize=256)
def preferred_language(accept_language: str) -> str:
    best, best_q = "", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q and q > 0:   # q=0 means "not acceptable"
            best, best_q = tag.split("-")[0], q
    return best
