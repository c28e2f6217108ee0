"""What the sandbox tests need to know about the isolation tier they run at (tests/tiers/launch.py puts them there).

``tier_of(box)``: the tier the fork-server reached. ``program_processes(box)``: the live processes of a sandbox's
programs as the host sees them (after a test: must be none), at every tier: the descendants of its zygote's PID
namespace (tiers 1 and 2, whatever uid programs run as, even the user's own in a one-uid user namespace) and every
process of its throwaway uid (tier 3, where nothing else holds that uid). ``for_tier(code, box)``: a test program's
``/tmp`` and ``/dev/shm`` where the tier has them: at tier 3 there is no private root, and the test's own folder
(its working directory) is the only place it may write.
"""

from __future__ import annotations

import os
from pathlib import Path

#: what each tier-specific skip says
NO_PRIVATE_ROOT = "tier 3 has no mount namespace: host paths exist (stat) but nothing outside the test's folder can be read or listed (Landlock); tests/tiers covers it"
NO_PID_NAMESPACE = "tier 3 has no PID namespace and no /proc (Landlock): covered by the leftover-process checks and tests/tiers"
NO_UTS_NET_NAMESPACE = "tier 3 has no UTS or network namespace: sockets are refused by seccomp and TCP by Landlock (connect_localhost, raw_syscalls_refused)"
RLIMIT_AS_STACKS = "without a memory cgroup the limit is RLIMIT_AS, which counts a thread's reserved stack: a 512 MB stack cannot be reserved under 256 MB (README, tiers)"
NO_SHM_AT_TIER3 = "tier 3 has no private /dev/shm: POSIX shared memory and semaphores are refused (Landlock), so nothing can survive there"


def environment_in_scratch() -> list[str]:
    """The top folders of this Python environment that lie under the sandbox's scratch folders (``/tmp``,
    ``/dev/shm``): the sandbox binds an environment that lives there (a venv under /tmp, common in CI) at its own
    path, read-only, on top of the scratch, so that programs import from it as from an environment anywhere else
    (builder/sandbox/zygote.py, ``build_root``). A program sees that folder in its scratch, and nothing else may be
    there. Empty for an environment anywhere else."""
    from builder.sandbox.zygote import SCRATCH_DIRS, python_dirs

    found = set()
    for path in python_dirs():
        real = os.path.realpath(path) if path else ""
        for scratch in SCRATCH_DIRS:
            if real.startswith(scratch + "/"):
                found.add(scratch + "/" + real[len(scratch) + 1 :].split("/")[0])
    return sorted(found)


def tier_of(box: object) -> int:
    return int(getattr(box, "tier", 1))


def for_tier(code: str, box: object) -> str:
    """At tier 3, the paths a program uses as its scratch (/tmp, /dev/shm) become its own folder (the working
    directory; /tmp and /dev/shm are the host's there, closed by Landlock)."""
    if tier_of(box) != 3:
        return code
    scratch = scratch_path(box)
    return code.replace('"/tmp', f'"{scratch}').replace("'/tmp", f"'{scratch}").replace('"/dev/shm', f'"{scratch}')


def scratch_path(box: object) -> str:
    """Tier 3: the host path of the test's folder."""
    zygote = box._holder[0] if box._holder[0] is not None else box._zygote()  # type: ignore[attr-defined]
    return os.path.join(zygote.root_dir, "scratch")


def _status(pid: str) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def processes() -> dict[int, dict[str, str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out[int(entry)] = _status(entry)
            except (OSError, ValueError):
                continue
    return out


def program_processes(box: object) -> list[int]:
    """Live (not zombie) processes of the sandbox's programs, as host pids."""
    table = processes()
    found: set[int] = set()
    uid = getattr(box, "program_uid", None)
    if uid is not None and not getattr(box, "shared_uid", False):
        found |= {pid for pid, st in table.items() if int(st.get("Uid", "-1 ").split()[0]) == uid}
    holder = getattr(box, "_holder", [None])
    zygote = holder[0]
    if zygote is not None and zygote.proc.poll() is None:
        shim = zygote.proc.pid
        children: dict[int, list[int]] = {}
        for pid, st in table.items():
            children.setdefault(int(st.get("PPid", "0")), []).append(pid)
        inner = children.get(shim, []) if getattr(box, "features", {}).get("pidns") else [shim]
        for top in inner:  # the zygote (PID 1 of its namespace, or the shim itself): its descendants are the tests'
            stack = list(children.get(top, []))
            while stack:
                pid = stack.pop()
                found.add(pid)
                stack += children.get(pid, [])
    found.discard(getattr(box, "reaper_pid", None))  # tier 3: the zygote's own process of the uid (it kills the others)
    return sorted(pid for pid in found if table.get(pid, {}).get("State", "Z")[:1] not in ("Z", "X"))
