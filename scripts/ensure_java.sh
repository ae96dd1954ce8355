#!/usr/bin/env bash
# pyspark needs Java 17 or 21. Use the one on PATH / JAVA_HOME when it is new enough; otherwise
# install OpenJDK 17 with apt when we are root, or stop with a message that says what to do.
set -euo pipefail

java_major() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$java" >/dev/null 2>&1 || { echo 0; return; }
  "$java" -version 2>&1 | sed -nE 's/.*version "(1\.)?([0-9]+).*/\2/p' | head -n1
}

major=$(java_major)
if [ "${major:-0}" -ge 17 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Java ${major:-none} found; installing OpenJDK 17 (pyspark needs Java 17+)..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  exit 0
fi
echo "error: pyspark needs Java 17 or 21 (found: ${major:-none})." >&2
echo "Install it (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless;" >&2
echo "macOS: brew install openjdk@17) or point JAVA_HOME at one, then run this again." >&2
exit 1
