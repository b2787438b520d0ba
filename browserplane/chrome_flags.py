"""The Chromium flags a client may add to its session (`SessionOptions.chrome_args`).

Many Chromium switches hand whoever sets them the node: `--gpu-launcher`,
`--renderer-cmd-prefix` and `--utility-cmd-prefix` run a command, `--remote-debugging-*` opens
the browser to the network, `--user-data-dir`, `--load-extension` or `--enable-logging=PATH`
name paths, `--no-sandbox`, `--proxy-server`, `--host-resolver-rules` or
`--disable-web-security` switch off a layer of docs/security.md. So this is an allowlist, not a
blocklist: a flag is accepted only when its name is listed and its value matches that name's
strict syntax. The control plane checks it when a session is created and the node checks it
again before launch, from this one module.
"""

from __future__ import annotations

import re

MAX_FLAGS = 32
MAX_WINDOW = (7680, 4320)
# Features that change only how pages look or what the browser offers by itself; nothing here
# touches the sandbox, site isolation, the network stack or where files go.
SAFE_FEATURES = frozenset({
    "Translate", "TranslateUI", "MediaRouter", "GlobalMediaControls", "AutofillServerCommunication",
    "OptimizationHints", "InterestFeedContentSuggestions", "CalculateNativeWinOcclusion",
    "HardwareMediaKeyHandling", "PaintHolding", "BackForwardCache", "LensOverlay",
    "DialMediaRouteProvider", "CertificateTransparencyComponentUpdater", "AcceptCHFrame",
    "AutoExpandDetailsElement", "ImprovedCookieControls", "PrivacySandboxSettings4",
    "HttpsUpgrades", "HttpsFirstBalancedModeAutoEnable", "DestroyProfileOnBrowserClose",
})
LOCALE = r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}"
# Flags without a value.
SWITCHES = frozenset({
    "--force-dark-mode", "--hide-scrollbars", "--mute-audio", "--disable-notifications",
    "--disable-popup-blocking", "--start-maximized", "--disable-infobars",
    "--disable-translate", "--disable-default-apps", "--disable-smooth-scrolling",
})
# Flags with a value: name -> the whole value's syntax.
VALUED = {
    "--lang": re.compile(LOCALE),
    "--accept-lang": re.compile(rf"{LOCALE}(,{LOCALE}){{0,9}}"),
    "--disable-blink-features": re.compile(r"AutomationControlled"),
    "--font-render-hinting": re.compile(r"none|slight|medium|full"),
    "--force-color-profile": re.compile(r"srgb|display-p3-d65|rec2020|scrgb-linear|hdr10|generic-rgb"),
    "--blink-settings": re.compile(r"(imagesEnabled|primaryHoverType|primaryPointerType)=[A-Za-z0-9]{1,16}"),
    "--window-size": re.compile(r"(\d{1,4}),(\d{1,4})"),
    "--force-device-scale-factor": re.compile(r"[0-4](\.\d{1,3})?|5(\.0{1,3})?"),
    "--disable-features": re.compile(r"[A-Za-z0-9]{1,64}(,[A-Za-z0-9]{1,64}){0,31}"),
}


class FlagRefused(ValueError):
    """A flag that is not on the allowlist, or whose value is not of its allowed syntax."""

    def __init__(self, index: int, flag: str, reason: str) -> None:
        self.index, self.flag, self.reason = index, flag, reason
        shown = flag if len(flag) <= 80 else flag[:77] + "..."
        super().__init__(f"{shown!r} {reason}; allowed: {describe()}")


def describe() -> str:
    """The allowlist, for error messages and the README."""
    return ", ".join([*sorted(SWITCHES), *(f"{name}=..." for name in sorted(VALUED))])


def check_flag(index: int, flag: str) -> None:
    """Raises FlagRefused unless `flag` is on the allowlist with a value of the right syntax."""
    name, sep, value = flag.partition("=")
    if name in SWITCHES and not sep:
        return
    syntax = VALUED.get(name)
    if syntax is None:
        raise FlagRefused(index, flag, "is not an allowed Chromium flag")
    if not sep or not syntax.fullmatch(value):
        raise FlagRefused(index, flag, f"has a value {name} does not allow")
    if name == "--window-size":
        width, height = (int(n) for n in value.split(","))
        if not (1 <= width <= MAX_WINDOW[0] and 1 <= height <= MAX_WINDOW[1]):
            raise FlagRefused(index, flag, f"is outside 1x1..{MAX_WINDOW[0]}x{MAX_WINDOW[1]}")
    if name == "--disable-features":
        unknown = [f for f in value.split(",") if f not in SAFE_FEATURES]
        if unknown:
            raise FlagRefused(index, flag, f"names features not on the safe list ({', '.join(unknown[:5])}; "
                              f"safe: {', '.join(sorted(SAFE_FEATURES))})")


def check_flags(flags: list[str] | tuple[str, ...]) -> None:
    """Checks every flag (and how many there are); raises FlagRefused for the first bad one."""
    if len(flags) > MAX_FLAGS:
        raise FlagRefused(MAX_FLAGS, flags[MAX_FLAGS], f"is past the limit of {MAX_FLAGS} flags")
    for i, flag in enumerate(flags):
        check_flag(i, flag)
