#!/usr/bin/env bash
# A coverage-guided run of the pipeline fuzz harnesses (tests/Usine.Fuzz) under afl-fuzz, through SharpFuzz.
#   scripts/fuzz.sh json|csv [SECONDS]    default 600 s; findings in ${FUZZ_DIR:-/tmp/usine-fuzz}/TARGET/findings
# Installs what is missing (afl++ from the Debian packages, the sharpfuzz tool from NuGet), publishes the harness
# to a folder of its own, instruments Usine.Core.dll there (never the build output the tests use), and runs
# afl-fuzz over the target's corpus. Each crash is a file under findings/default/crashes: replay it with
#   dotnet "$FUZZ_DIR/TARGET/bin/Usine.Fuzz.dll" TARGET < CRASH
# and add it to tests/Usine.Fuzz/corpus/regressions/TARGET once understood (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-}
seconds=${2:-600}
if [[ $target != json && $target != csv ]]; then
    echo "usage: scripts/fuzz.sh json|csv [SECONDS]" >&2
    exit 2
fi

if ! command -v afl-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing afl++" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++ >&2
fi

export PATH="$PATH:$HOME/.dotnet/tools"
if ! command -v sharpfuzz >/dev/null 2>&1; then
    echo "fuzz: installing the sharpfuzz tool" >&2
    dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >&2
fi

dir=${FUZZ_DIR:-/tmp/usine-fuzz}/$target
rm -rf "$dir/bin"
mkdir -p "$dir"
dotnet publish tests/Usine.Fuzz -c Release -nologo -v q -o "$dir/bin" >&2
sharpfuzz "$dir/bin/Usine.Core.dll" >&2

# A run that stops resumes from its queue (-i -), otherwise it starts from the corpus.
input=tests/Usine.Fuzz/corpus/$target
if [[ -d $dir/findings/default/queue ]]; then
    input=-
fi

# The .NET runtime is not an instrumented binary and starts slowly: skip afl's binary check, allow it time
# and memory. afl's own fork server is not used; SharpFuzz runs inputs in a loop in one process.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1
afl-fuzz -i "$input" -o "$dir/findings" -x "tests/Usine.Fuzz/$target.dict" -t 5000 -m none -V "$seconds" \
    -- "$(command -v dotnet)" "$dir/bin/Usine.Fuzz.dll" "$target"

echo "fuzz: crashes in $dir/findings/default/crashes:" >&2
ls "$dir/findings/default/crashes" 2>/dev/null | grep -v README || echo "none" >&2
