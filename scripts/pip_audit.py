"""Dependency audit for `make lint`: fail on a known vulnerability, warn loudly when offline.

pip-audit alone exits 0 with "No known vulnerabilities found" when it could not reach the
vulnerability database (every package is then skipped, i.e. nothing was audited), and
`pip-audit || echo` would also swallow real findings. This wrapper tells the two apart:
exit 1 if any installed package has a known vulnerability, exit 0 with a warning if the
database was unreachable (nothing or only part audited), exit 0 when all is clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


def main() -> int:
    try:
        result = subprocess.run(  # noqa: S603 - fixed command, no user input
            [str(PIP_AUDIT), "--skip-editable", "--progress-spinner", "off", "-f", "json"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"pip-audit could not run ({exc}): dependencies NOT audited", file=sys.stderr)
        return 0
    try:
        report = json.loads(result.stdout or "{}")
    except ValueError:
        print("pip-audit gave no report (offline?): dependencies NOT audited", file=sys.stderr)
        print(result.stderr[-2000:], file=sys.stderr)
        return 0
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    deps = [d for d in deps if "editable" not in d.get("skip_reason", "")]
    skipped = [d for d in deps if d.get("skip_reason")]
    for dep in vulnerable:
        ids = ", ".join(v.get("id", "?") for v in dep["vulns"])
        print(f"VULNERABLE: {dep['name']} {dep.get('version', '')}: {ids}")
    if vulnerable:
        return 1
    audited = len(deps) - len(skipped)
    if skipped:
        print(
            f"pip-audit: {len(skipped)} of {len(deps)} packages could NOT be audited "
            "(vulnerability database unreachable?); run `make lint` online before a release.",
            file=sys.stderr,
        )
    if audited:
        print(f"pip-audit: {audited} packages audited, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
