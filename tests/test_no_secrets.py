"""No secret or key in the repository: private keys, cloud keys, 32-byte base64 keys, or a
filled-in secret in a configuration file. Only the fixed test keys in tests/settings.py are
allowed. Files about to be committed (untracked, not ignored) are checked too."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"tests/settings.py"}
SKIP_PREFIXES = ("static/vendor/", "tests/e2e/vendor/", "locale/")
SKIP_SUFFIXES = (".mo", ".png", ".jpg", ".ico", ".woff", ".woff2", ".ttf", ".svg", ".gz", ".zip")

PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "32-byte base64 key": re.compile(
        r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=(?![A-Za-z0-9+/=])"
    ),
    "64-byte base64 key": re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])"),
}
# In configuration files: a secret variable with a real value (not empty, not a placeholder).
CONFIG_SECRET = re.compile(
    r"^\s*(SECRET_KEY|FIELD_ENCRYPTION_KEYS|BLIND_INDEX_KEY|AUDIT_KEY|EMAIL_HOST_PASSWORD"
    r"|POSTGRES_PASSWORD|OWNER_DB_PASSWORD|APP_DB_PASSWORD)"
    r"[ \t]*[=:][ \t]*[\"']?(?P<value>[^\s\"'#]*)",
    re.MULTILINE,
)
CONFIG_FILES = re.compile(r"(\.env[^/]*|\.example|\.ya?ml|\.toml|\.ini|\.cfg|Dockerfile)$")
KEY_PATTERNS = {"32-byte base64 key", "64-byte base64 key"}
PLACEHOLDER = re.compile(r"^$|^[\w-]+:$|\$\{|<|change|example|xxx|\.\.\.", re.IGNORECASE)


def _is_dummy(candidate: str) -> bool:
    """A readable text or one repeated byte, base64-encoded: an obvious build or benchmark
    placeholder. A real key is random bytes and is (almost surely) neither."""
    import base64
    import binascii

    try:
        raw = base64.b64decode(candidate, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(set(raw)) == 1 or all(32 <= b < 127 for b in raw)


def _files() -> list[str]:
    def git(*args: str) -> list[str]:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return [line for line in out.stdout.splitlines() if line]

    try:
        files = set(git("ls-files")) | set(git("ls-files", "--others", "--exclude-standard"))
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return sorted(
        f
        for f in files
        if not f.startswith(SKIP_PREFIXES) and not f.endswith(SKIP_SUFFIXES) and f not in ALLOWED
    )


def test_no_key_or_secret_in_the_repository() -> None:
    found = []
    for name in _files():
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                if what in KEY_PATTERNS and _is_dummy(match.group(0)):
                    continue
                found.append(f"{name}: {what}: {match.group(0)[:12]}…")
        if CONFIG_FILES.search(name):
            for match in CONFIG_SECRET.finditer(text):
                value = match.group("value")
                entries = [v.split(":", 1)[-1] for v in value.split(",")]
                if not PLACEHOLDER.search(value) and not all(_is_dummy(v) for v in entries):
                    found.append(f"{name}: {match.group(1)} has a value")
    assert not found, "secrets in the repository:\n" + "\n".join(found)


@pytest.mark.parametrize("name", [".env", ".env.production"])
def test_dotenv_files_are_ignored_by_git(name: str) -> None:
    result = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT, check=False)
    assert result.returncode == 0, f"{name} must be git-ignored"


def test_the_detector_finds_what_it_should() -> None:
    import base64
    import os

    key = base64.b64encode(os.urandom(32)).decode()
    assert PATTERNS["32-byte base64 key"].search(f'KEY = "{key}"')
    assert PATTERNS["private key"].search("-----BEGIN RSA " + "PRIVATE KEY-----")
    assert not _is_dummy(key) or len(set(base64.b64decode(key))) == 1
    assert _is_dummy(base64.b64encode(b"ankommen-bench-key-ankommen-ben!").decode())
    assert not PATTERNS["32-byte base64 key"].search("A" * 60 + "=")
    assert CONFIG_SECRET.search("SECRET_KEY=abc123")
    assert PLACEHOLDER.search("") and PLACEHOLDER.search("k1:")
