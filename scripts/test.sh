#!/usr/bin/env bash
# Runs every test of Usine on this machine: installs and starts the servers the tests talk to
# (scripts/services.sh), builds the solution, runs each test project, and ends with one line
# "N passed, N failed". Exit code 0 only when everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET SDK is needed (dotnet on PATH)" >&2
    exit 1
fi

eval "$(bash scripts/services.sh start)"
trap 'bash scripts/services.sh stop >/dev/null 2>&1 || true' EXIT

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Usine.slnx -c Release -nologo -v q
dotnet format Usine.slnx --verify-no-changes -v q || { echo "error: run 'dotnet format Usine.slnx' and commit the result" >&2; exit 1; }

passed=0
failed=0
status=0
results=$(mktemp -d)
for project in tests/*/; do
    name=$(basename "$project")
    log="$results/$name.log"
    # A folder of test peers (the Sparkplug edge node's npm packages) is not a project.
    if ! compgen -G "$project*.csproj" >/dev/null; then
        continue
    fi
    # A library of shared test code (a conformance suite) runs inside the projects that inherit it.
    if grep -q '<IsTestProject>false</IsTestProject>' "$project"*.csproj; then
        continue
    fi
    echo "== $name"
    if dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=normal" >"$log" 2>&1; then
        :
    else
        status=1
    fi
    # Each failed test with its message and the first lines of its stack trace.
    awk '/^[[:space:]]+Failed [A-Z]/ { n = 25 } n > 0 { print; n-- }' "$log" | head -150 || true
    total=$(grep -E '^Total tests: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
    if [[ -z $total ]]; then
        echo "   no test summary for $name; its output ends with:"
        tail -20 "$log"
        status=1
        failed=$((failed + 1))
        continue
    fi
    p=$(grep -E '^\s+Passed: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    f=$(grep -E '^\s+Failed: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
    echo "   $name: $p passed, $f failed of $total"
    passed=$((passed + p))
    failed=$((failed + f))
done

echo "$passed passed, $failed failed"
if [[ $failed -gt 0 ]]; then
    status=1
fi
exit $status
