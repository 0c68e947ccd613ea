#!/bin/sh
# Vendor Cropper.js 1.x (MIT) into static/vendor/cropperjs/ from the npm registry.
# The files are committed, so a fresh clone needs no npm; re-run to upgrade (change VERSION).
set -eu
VERSION="${CROPPER_VERSION:-1.6.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/build/cropperjs"
DEST="$ROOT/static/vendor/cropperjs"
rm -rf "$BUILD" && mkdir -p "$BUILD" "$DEST"
cd "$BUILD"
npm pack --silent "cropperjs@$VERSION" >/dev/null
tar xzf cropperjs-*.tgz
cp package/dist/cropper.min.js package/dist/cropper.min.css "$DEST/"
cp package/LICENSE "$DEST/LICENSE"
echo "$VERSION" > "$DEST/VERSION"
echo "vendored cropperjs $VERSION into static/vendor/cropperjs/"
