# Sourced by bin/mayastor and by the source tree's ./mayastor: sets JDK to a JDK >= 21 and
# JDK_VERSION to its feature version, or exits with a message. Looks at $JAVA_HOME when it is new
# enough, else the newest JDK under /usr/lib/jvm, else java on the PATH.

# The feature version (21, 25, ...) of the JDK in $1, from its release file or by asking it.
jdk_version() {
    if [ -r "$1/release" ]; then
        sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release"
    elif [ -x "$1/bin/java" ]; then
        "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
    fi
}

find_jdk() {
    if [ -n "${JAVA_HOME:-}" ] && [ "$(jdk_version "$JAVA_HOME")" -ge 21 ] 2>/dev/null; then
        echo "$JAVA_HOME"; return
    fi
    best="" best_version=0
    for dir in /usr/lib/jvm/*; do
        [ -x "$dir/bin/java" ] || continue
        v=$(jdk_version "$dir")
        if [ -n "$v" ] && [ "$v" -gt "$best_version" ]; then best=$dir best_version=$v; fi
    done
    if [ "$best_version" -ge 21 ]; then echo "$best"; return; fi
    if command -v java >/dev/null 2>&1; then
        dir=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
        if [ "$(jdk_version "$dir")" -ge 21 ] 2>/dev/null; then echo "$dir"; return; fi
    fi
}

JDK=$(find_jdk)
if [ -z "$JDK" ]; then
    echo "mayastor: needs a JDK 21 or newer; none found (looked at \$JAVA_HOME, /usr/lib/jvm, PATH)." >&2
    echo "Install one (e.g. Temurin 25), or point JAVA_HOME at it." >&2
    exit 2
fi
JDK_VERSION=$(jdk_version "$JDK")
