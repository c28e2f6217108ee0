#!/usr/bin/env bash
# CI, after the main suite (tier 1: root with CAP_SYS_ADMIN): the sandbox's adversarial tests, its tier tests and the
# acceptance checks on the real data packs, again at every other tier this machine reaches (README, "Isolation tiers"):
#   tier 2  a normal user (unprivileged user namespaces), here with the user created for the run;
#   tier 3  root as a default Docker container has it: no CAP_SYS_ADMIN, unshare/mount refused by a seccomp filter
#           like Docker's (tests/tiers/launch.py), cgroupfs read-only, /proc masked.
# Each tier also prints `builder sandbox-check` (its level and probes). The Python environment lives under /root
# (pyenv, 0700): launch.py --share binds it back, in a private mount namespace, at its own path for the other uids.
# Everything made here (the user, its home, caches) is removed at the end; the run fails if a sandbox left anything.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
PY=$(python -c 'import sys; print(sys.executable)')
PREFIX=$(python -c 'import os, sys; print(os.path.realpath(sys.base_prefix))')
VENV=$(python -c 'import os, sys; print(os.path.realpath(sys.prefix))')
DATA=$(realpath -m "$REPO/../shared/data")
USER_NAME=builder-ci
LAUNCH="python $REPO/tests/tiers/launch.py"
SHARE=(--share "$PREFIX" --share "$VENV" --share "$REPO")
[ -d "$DATA" ] && SHARE+=(--share "$DATA")
ENV=(env PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false)
# from a folder of the tier's user (the verify stage keeps its work folder in the working directory), the repo read-only
PYTEST=("$PY" -m pytest -q -p no:cacheprovider -o addopts="-ra" --rootdir "$REPO" -c "$REPO/pyproject.toml")
LIGHT=("$REPO/tests/test_sandbox_adversarial.py" "$REPO/tests/test_sandbox_labels.py" "$REPO/tests/tiers"
       "$REPO/tests/test_sandbox_native_adversarial.py" "$REPO/tests/test_sandbox_launcher.py")
PACKS=("$REPO/tests/test_acceptance_packs.py")
LOGS=$(mktemp -d /tmp/builder-tiers-ci-XXXXXX)
WORK3=""  # tier 3's working folder (root), made below
chmod 755 "$LOGS"

cleanup() {
    if id -u "$USER_NAME" >/dev/null 2>&1; then  # processes of the user this script made, by id
        for pid in $(ps -o pid= -u "$USER_NAME" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        userdel -r "$USER_NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "/tmp/pytest-of-$USER_NAME" ${WORK3:+"$WORK3"}
}
trap cleanup EXIT

# --- the tier-2 user: a normal account with a subordinate id range (as useradd gives one where /etc/subuid exists)
cleanup
for f in /etc/subuid /etc/subgid; do [ -e "$f" ] || install -m 644 /dev/null "$f"; done
if ! command -v newuidmap >/dev/null 2>&1; then  # the throwaway uid at tier 2 needs it; without it: one-uid mode
    timeout 180 apt-get install -y -q --no-install-recommends uidmap >/dev/null 2>&1 \
        || echo "note: uidmap not installable here: tier 2 runs with a one-uid user namespace"
fi
useradd -m -s /bin/bash "$USER_NAME"
WORK3=$(mktemp -d /tmp/builder-tiers-ci-root-XXXXXX)

HOME2=$(getent passwd "$USER_NAME" | cut -d: -f6)
tier2() { $LAUNCH --tier 2 --user "$USER_NAME" "${SHARE[@]}" --cwd "$HOME2" "$@"; }
# tier 3 runs as root, but /root is the 1 MB tmpfs launch.py puts over it: home and caches go to its own folder
tier3() { $LAUNCH --tier 3 --ro-cgroup --mask-proc "${SHARE[@]}" --cwd "$WORK3" -- env HOME="$WORK3" "${@:2}"; }
step() {  # name, command...: run it, log to $LOGS/name.log, print how long it took and its last lines
    local name=$1 started=$SECONDS
    shift
    if "$@" >"$LOGS/$name.log" 2>&1; then
        echo "[tiers] $name: ok in $((SECONDS - started)) s"
        tail -n 3 "$LOGS/$name.log" | sed "s/^/[tiers]   /"
    else
        echo "[tiers] $name: FAILED after $((SECONDS - started)) s"
        tail -n 60 "$LOGS/$name.log"
        return 1
    fi
}

# sandbox-check at each tier (tier 2 also as a one-uid user namespace, under a masked /proc — no /proc at all — and as
# root in a container that allows user namespaces: Docker's capabilities, no seccomp filter)
step check-tier2 tier2 -- "${ENV[@]}" "$PY" -m builder sandbox-check
step check-tier2-one-uid tier2 -- "${ENV[@]}" BUILDER_SANDBOX_DISABLE=uid "$PY" -m builder sandbox-check
step check-tier2-masked-proc $LAUNCH --tier 2 --user "$USER_NAME" --mask-proc "${SHARE[@]}" --cwd "$HOME2" -- "${ENV[@]}" "$PY" -m builder sandbox-check
step check-tier2-root $LAUNCH --tier 2 "${SHARE[@]}" --cwd "$WORK3" -- "${ENV[@]}" "$PY" -m builder sandbox-check
step check-tier3 tier3 -- "${ENV[@]}" "$PY" -m builder sandbox-check
for name in check-tier2 check-tier2-one-uid check-tier2-masked-proc check-tier2-root check-tier3; do
    grep -E "^(tier|level|root):" "$LOGS/$name.log" | sed "s/^/[tiers] $name   /"
done

# adversarial + label + tier tests: tier 2 and tier 3 at once (light on CPU); then the packs, one tier at a time
# (they load both cores, and CPU-bound solutions run close to their limits)
step light-tier2 tier2 -- "${ENV[@]}" "${PYTEST[@]}" "${LIGHT[@]}" &
light2=$!
step light-tier3 tier3 -- "${ENV[@]}" "${PYTEST[@]}" "${LIGHT[@]}" &
light3=$!
status=0
wait $light2 || status=1
wait $light3 || status=1
step packs-tier2 tier2 -- "${ENV[@]}" "${PYTEST[@]}" "${PACKS[@]}" || status=1
step packs-tier3 tier3 -- "${ENV[@]}" "${PYTEST[@]}" "${PACKS[@]}" || status=1

# nothing of the sandboxes is left: processes of the user, scratch folders, mounts, cgroups
left=$( (ps -o pid=,args= -u "$USER_NAME" 2>/dev/null || true; \
         find /tmp -maxdepth 1 -name 'builder-sbx-root-*' -newer "$LOGS" 2>/dev/null || true; \
         find /sys/fs/cgroup -maxdepth 6 -type d -name 'builder-sbx-*' -newer "$LOGS" 2>/dev/null || true; \
         grep builder-sbx-root /proc/self/mountinfo || true) )
if [ -n "$left" ]; then
    echo "[tiers] left behind:"; echo "$left"; exit 1
fi
echo "[tiers] nothing left behind"
[ $status -eq 0 ] || { echo "[tiers] FAILED (logs in $LOGS)"; exit 1; }
rm -rf "$LOGS"
