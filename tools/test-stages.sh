#!/usr/bin/env bash
# `make test`: every stage in order, each timed; the table of stage times is printed at the end, also when a
# stage fails (then the failed stage is marked and the exit code is its own). Budget: 45 minutes on 2 cores.
#   tools/test-stages.sh                  all stages
#   STAGES="lint unit" tools/test-stages.sh
# Stages joined by + run at the same time (lint is one core's work and unit another's: on 2 cores together they take
# the time of the longer one); each one's output goes to build/stage-NAME.log and is printed when the group ends.
set -uo pipefail
cd "$(dirname "$0")/.."

STAGES=${STAGES:-"bootstrap venv artifacts releases lint+unit molecule integration"}
BUDGET_S=${BUDGET_S:-2700}
declare -a NAMES=() TIMES=() RESULTS=()
start_all=$(date +%s)
rc=0

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

summary() {
    local total=$(( $(date +%s) - start_all ))
    echo
    echo "== make test: stage times"
    printf '   %-22s %8s  %s\n' "stage" "time" "result"
    for i in "${!NAMES[@]}"; do
        printf '   %-22s %8s  %s\n' "${NAMES[$i]}" "$(fmt "${TIMES[$i]}")" "${RESULTS[$i]}"
    done
    printf '   %-22s %8s  %s\n' "total" "$(fmt "$total")" \
        "$([ "$total" -le "$BUDGET_S" ] && echo "within the $(fmt "$BUDGET_S") budget" || echo "OVER the $(fmt "$BUDGET_S") budget")"
}
trap summary EXIT

# The stages of GROUP (a+b) at once; each one's time and result recorded; returns the first non-zero exit code.
run_group() {
    local group=$1 t0 code first=0 stage
    local -a members pids
    IFS=+ read -ra members <<< "$group"
    mkdir -p build
    echo "== stages ${members[*]} (at the same time; their output follows when all have ended)"
    t0=$(date +%s)
    for stage in "${members[@]}"; do
        rm -f "build/stage-$stage.rc"
        ( s=$(date +%s); make --no-print-directory "$stage" > "build/stage-$stage.log" 2>&1; c=$?
          echo "$c $(( $(date +%s) - s ))" > "build/stage-$stage.rc"; exit "$c" ) &
        pids+=("$!")
    done
    for i in "${!members[@]}"; do
        wait "${pids[$i]}"
    done
    for stage in "${members[@]}"; do
        echo "== stage $stage"
        cat "build/stage-$stage.log"
        # No result file: the stage was killed before it could write one (counted as failed, time unknown).
        code=1 took=0
        [ -f "build/stage-$stage.rc" ] && read -r code took < "build/stage-$stage.rc"
        NAMES+=("$stage"); TIMES+=("$took")
        if [ "$code" -ne 0 ]; then
            RESULTS+=("FAILED (exit $code)")
            [ "$first" -ne 0 ] || first=$code
        else
            RESULTS+=("ok")
        fi
    done
    NAMES+=("  (${members[*]} together)"); TIMES+=("$(( $(date +%s) - t0 ))"); RESULTS+=("wall time")
    return "$first"
}

for stage in $STAGES; do
    if [[ "$stage" == *+* ]]; then
        run_group "$stage"
        code=$?
        if [ "$code" -ne 0 ]; then
            rc=$code
            break
        fi
        continue
    fi
    echo "== stage $stage"
    t0=$(date +%s)
    make --no-print-directory "$stage"
    code=$?
    took=$(( $(date +%s) - t0 ))
    NAMES+=("$stage"); TIMES+=("$took")
    if [ "$code" -ne 0 ]; then
        RESULTS+=("FAILED (exit $code)")
        rc=$code
        break
    fi
    RESULTS+=("ok")
    # Molecule prints one line per scenario; repeat them in the table.
    if [ "$stage" = molecule ] && [ -f build/molecule-times.txt ]; then
        while read -r scenario seconds; do
            NAMES+=("  molecule $scenario"); TIMES+=("$seconds"); RESULTS+=("ok")
        done < build/molecule-times.txt
    fi
done
exit "$rc"
