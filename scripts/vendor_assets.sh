#!/usr/bin/env bash
# Takes the front-end assets from their registry packages, at pinned versions, into
# static/vendor/ (committed: running the app needs no build step and no CDN).
#   KERN UX (@kern-ux/native): CSS, fonts, licence (EUPL-1.2)
#   axe-core: used only by the browser tests (tests/e2e), MPL-2.0
# htmx comes with django-htmx (its bundled static file), so it is not vendored here.
set -euo pipefail
KERN_VERSION=2.7.2
AXE_VERSION=4.11.4
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@kern-ux/native@${KERN_VERSION}" "axe-core@${AXE_VERSION}" >/dev/null)
dest=static/vendor/kern
rm -rf "$dest" && mkdir -p "$dest/fonts"
tar xzf "$tmp/kern-ux-native-${KERN_VERSION}.tgz" -C "$tmp"
cp "$tmp/package/dist/kern.min.css" "$tmp/package/dist/kern-utilities.min.css" "$dest/"
cp "$tmp/package/dist/fonts/fira-sans.css" "$dest/fonts/"
mkdir -p "$dest/fonts/fira-sans"
for w in Regular Italic SemiBold SemiBoldItalic Bold BoldItalic Light LightItalic Medium MediumItalic; do
  cp "$tmp/package/dist/fonts/fira-sans/FiraSans-${w}.woff2" "$dest/fonts/fira-sans/"
done
cp "$tmp/package/LICENSE.md" "$dest/LICENSE.md"
echo "@kern-ux/native ${KERN_VERSION}" > "$dest/VERSION"
rm -rf "$tmp/package"
axe=tests/e2e/vendor
mkdir -p "$axe"
tar xzf "$tmp/axe-core-${AXE_VERSION}.tgz" -C "$tmp"
cp "$tmp/package/axe.min.js" "$axe/axe.min.js"
cp "$tmp/package/LICENSE" "$axe/LICENSE-axe-core"
echo "axe-core ${AXE_VERSION}" > "$axe/VERSION"
echo "vendored: KERN ${KERN_VERSION}, axe-core ${AXE_VERSION}"
