"""Stage processes that leave nothing behind: each starts as the leader of its own session and process group,
and a stage stopped at the budget is killed with everything it started.

A stage's Cog server and coglet's worker inherit the stage's process group (coglet 0.23.1 keeps its worker in
the group: seen here with `ps -o pgid`), so killing the group frees the VRAM they hold. A descendant that left
the group (setsid, a daemon) is found through /proc's parent links, taken before any signal is sent.
Standard library only: Linux /proc.
"""

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

GRACE_S = 10  # SIGTERM first: coglet stops its worker and a stage's last JSON write completes


def stat_fields(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, process group, session) of a live process, None once it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3])


def live_processes() -> dict[int, tuple[int, int, int]]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))) is not None:
            found[int(entry.name)] = fields
    return found


def members(leader: int) -> set[int]:
    """Every live process in `leader`'s session or process group, or descended from it."""
    table = live_processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found = {pid for pid, (_, group, session) in table.items() if leader in (group, session)}
    pending = [leader]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    found.discard(os.getpid())
    return {pid for pid in found if pid in table}


def signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def kill_tree(process: subprocess.Popen, grace_s: float = GRACE_S) -> set[int]:
    """Stop `process` (a session leader) and every process of its session, group or descent; returns the pids
    that were still alive when it began."""
    targets = members(process.pid) | ({process.pid} if process.poll() is None else set())
    signal_all(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, or it stays a zombie and /proc still lists it
        if not any(stat_fields(pid) for pid in targets):
            return targets
        time.sleep(0.1)
    signal_all({pid for pid in targets if stat_fields(pid)} | members(process.pid), signal.SIGKILL)
    process.wait()
    return targets


def run_group(command: list[str], timeout: float | None, **popen) -> int | None:
    """Run `command` in a new session; its exit status, or None when it ran past `timeout` and was killed with
    its whole process tree. Leftovers of a stage that ended on its own are killed too (a server it failed to
    stop still holds VRAM)."""
    process = subprocess.Popen(command, start_new_session=True, **popen)
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(process)
        return None
    except BaseException:  # Ctrl-C or an error here: the stage must not outlive the driver
        kill_tree(process)
        raise
    if members(process.pid):
        kill_tree(process)
    return returncode


def run_captured(command: list[str], timeout: float, **popen) -> tuple[int | None, str]:
    """`run_group` with stdout and stderr together as text (a file, not a pipe: a chatty child can't block)."""
    with tempfile.TemporaryFile() as output:
        returncode = run_group(command, timeout, stdout=output, stderr=subprocess.STDOUT, **popen)
        output.seek(0)
        return returncode, output.read().decode(errors="replace")
