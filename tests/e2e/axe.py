"""Run axe-core (tests/e2e/vendor/axe.min.js, vendored by scripts/vendor_assets.sh) on a page.

The script is put into every page by ``BrowserContext.add_init_script`` (DevTools protocol,
so the app's Content Security Policy ``script-src 'self'`` is not weakened for the test).
Serious and critical violations fail the journey; minor and moderate ones are printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# WCAG 2.1 A/AA (BITV 2.0) and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = {"serious", "critical"}
_RUN = """async (tags) => {
  if (!window.axe) { throw new Error("axe-core was not injected"); }
  const result = await window.axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.join(" "), html: n.html, summary: n.failureSummary,
    })),
  }));
}"""


@dataclass
class AxeReport:
    label: str
    url: str
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return [v for v in self.violations if v["impact"] in BLOCKING]

    def _lines(self, violations: list[dict[str, Any]]) -> list[str]:
        lines = []
        for v in violations:
            lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
            for node in v["nodes"][:8]:
                lines.append(f"      at {node['target']}")
                lines.append(f"         {node['html'][:200]}")
                summary = " ".join((node["summary"] or "").split())
                if summary:
                    lines.append(f"         {summary[:300]}")
            if len(v["nodes"]) > 8:
                lines.append(f"      ... and {len(v['nodes']) - 8} more elements")
        return lines

    def describe(self) -> str:
        head = f"axe-core: {len(self.blocking)} serious/critical on {self.label} <{self.url}>"
        return "\n".join([head, *self._lines(self.blocking)])

    def print_minor(self) -> None:
        minor = [v for v in self.violations if v["impact"] not in BLOCKING]
        if minor:
            print("\n".join([f"axe-core (not blocking) on {self.label}:", *self._lines(minor)]))


def run_axe(page: Any, *, label: str) -> AxeReport:
    """Run axe-core on the current page and return its violations."""
    violations = page.evaluate(_RUN, AXE_TAGS)
    return AxeReport(label=label, url=page.url, violations=violations)
