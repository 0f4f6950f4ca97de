#!/usr/bin/env bash
# Install the Debian packages the tests need when they are missing: Chromium (UI tests),
# a CJK font (Chinese titles must render), PostgreSQL (central database tests).
# zbar (libzbar0: the tests decode printed barcode labels with pyzbar), pdf (poppler-utils:
# pdftoppm rasterises the PDFs the tests read back).
# Usage: scripts/system-deps.sh [browser] [postgres] [fonts] [zbar] [pdf]
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(browser fonts postgres zbar pdf)
packages=()
for what in "${want[@]}"; do
  case "$what" in
    browser) [ -x /usr/bin/chromium ] || packages+=(chromium) ;;
    # grep without -q reads all of fc-list's output: -q would close the pipe early and, under
    # pipefail, turn a font that is there into a failure.
    fonts) fc-list 2>/dev/null | grep -i "noto sans cjk" >/dev/null || packages+=(fonts-noto-cjk fontconfig) ;;
    postgres)
      if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        packages+=(postgresql)
      fi ;;
    zbar) ldconfig -p 2>/dev/null | grep "libzbar.so.0" >/dev/null || packages+=(libzbar0) ;;
    pdf) command -v pdftoppm >/dev/null 2>&1 || packages+=(poppler-utils) ;;
    *) echo "unknown component: $what" >&2; exit 2 ;;
  esac
done
[ ${#packages[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "Please install as root: apt-get install ${packages[*]}" >&2; exit 1
  fi
else SUDO=""; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${packages[@]}"
