"""The program Cockpit runs on an SSH host for the length of one connection (stdlib only).

Nothing is installed remotely: this file's text is sent over the connection's standard input
to the remote `python3` and runs from memory until the connection ends. It answers framed
requests on stdin with framed replies on stdout: list a tree, stat, open/read-from-offset
(an open file keeps reading its version after a rotation, like `tail -F`), one batched
"poll" that stats every followed file and reads what was appended, /proc facts about
processes, and commands run once (`squeue`) or streamed line by line (`nvidia-smi -lms`).

Frame: 4-byte big-endian length, then a 4-byte JSON length, the JSON object, and raw bytes.
Kept compatible with Python 3.6 (the oldest python3 a GPU server is likely to have), and
never imported by Cockpit itself: it is read as text (see session.py).
"""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

OUT = sys.stdout.buffer
IN = sys.stdin.buffer
WRITE = threading.Lock()
MAGIC = b"COCKPIT-SSH-HELPER-1\n"  # first line out; what a login script printed before is skipped
HEAD = 1024  # bytes whose crc tells a file replaced by other content
SKIP = {".git", "__pycache__", "node_modules", ".venv", "venv"}  # never hold runs
handles = {}  # type: dict  # handle -> fd
streams = {}  # type: dict  # request id -> Popen
next_handle = [1]


def send(msg, blob=b""):
    body = json.dumps(msg, separators=(",", ":")).encode()
    frame = struct.pack(">II", 4 + len(body) + len(blob), len(body)) + body
    with WRITE:
        OUT.write(frame)
        OUT.write(blob)
        OUT.flush()


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = IN.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def stat_row(st):
    return [st.st_size, st.st_mtime_ns if hasattr(st, "st_mtime_ns") else int(st.st_mtime * 1e9),
            st.st_ino, st.st_dev, 1 if (st.st_mode & 0o170000) == 0o040000 else 0]


def err_row(e):
    return ["E", e.errno or 0, e.strerror or str(e)]


def pread(fd, n, off):
    if hasattr(os, "pread"):
        return os.pread(fd, n, off)
    os.lseek(fd, off, 0)
    return os.read(fd, n)


def read_range(fd, off, n):
    """Up to n bytes from off (n None: to the end as it is now)."""
    if n is None:
        n = max(os.fstat(fd).st_size - off, 0)
    parts = []
    while n > 0:
        chunk = pread(fd, min(n, 1 << 22), off)
        if not chunk:
            break
        parts.append(chunk)
        off += len(chunk)
        n -= len(chunk)
    return b"".join(parts)


def op_walk(req):
    root, limit, dirs, count = req["root"], req.get("max", 50000), [], 0
    os.stat(root)  # a missing root is an error, not an empty tree
    for here, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIP)
        rows = []
        for name in sorted(files):
            try:
                rows.append([name] + stat_row(os.stat(os.path.join(here, name))))
            except OSError:
                continue
        dirs.append([here, subdirs, rows])
        count += len(rows) + 1
        if count > limit:
            return {"dirs": dirs, "truncated": True}
    return {"dirs": dirs}


def op_stat(req):
    out = []
    for p in req["paths"]:
        try:
            out.append(stat_row(os.stat(p)))
        except OSError as e:
            out.append(err_row(e))
    return {"stats": out}


def op_open(req):
    fd = os.open(req["path"], os.O_RDONLY)
    h = next_handle[0]
    next_handle[0] += 1
    handles[h] = fd
    return {"h": h, "st": stat_row(os.fstat(fd))}


def op_read(req):
    return {}, read_range(handles[req["h"]], req["off"], req.get("n"))


def op_close(req):
    fd = handles.pop(req["h"], None)
    if fd is not None:
        os.close(fd)
    return {}


def op_head(req):
    """Bytes `off`..`off + n` of a file by path (format sniffing); b"" when unreadable."""
    try:
        with open(req["path"], "rb") as f:
            f.seek(req.get("off", 0))
            return {}, f.read(req["n"])
    except OSError:
        return {}, b""


def op_poll(req):
    """One look at everything followed: stat each path; for each open file its fstat, the
    crc of its head, and what was appended after `off` (at most `max` bytes)."""
    stats = op_stat(req)["stats"]
    fstats, lens, blobs = [], [], []
    for h, off, limit in req["handles"]:
        fd = handles.get(h)
        if fd is None:
            fstats.append(["E", 9, "bad handle"])
            lens.append(0)
            continue
        try:
            st = os.fstat(fd)
            row = stat_row(st) + [zlib.crc32(pread(fd, HEAD, 0)) if st.st_size else 0]
            data = read_range(fd, off, min(limit, max(st.st_size - off, 0))) if limit else b""
        except OSError as e:
            row, data = err_row(e), b""
        fstats.append(row)
        lens.append(len(data))
        blobs.append(data)
    return {"stats": stats, "fstats": fstats, "lens": lens}, b"".join(blobs)


def op_hello(req):
    return {"pid": os.getpid(), "host": socket.gethostname(), "now": time.time(),
            "python": sys.version.split()[0], "uid": os.getuid(),
            "utc_offset": time.localtime().tm_gmtoff}


# ---- processes (/proc) -------------------------------------------------------------------
def _boot_time():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime"):
                return float(line.split()[1])
    return 0.0


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
try:
    BOOT = _boot_time()
except OSError:  # no /proc (not Linux): process facts are not available, files still are
    BOOT = 0.0


def _proc_stat(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode("utf-8", "replace")
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2:].split()
    # rest[i] is field i+3 of proc(5): state, ppid, utime [11], stime [12], starttime [19],
    # and the exit status an unreaped process keeps [49].
    status = int(rest[49]) if len(rest) > 49 else 0
    return {"name": name, "state": rest[0], "ppid": int(rest[1]),
            "cpu_s": (int(rest[11]) + int(rest[12])) / float(TICKS),
            "start": BOOT + int(rest[19]) / float(TICKS), "wait_status": status}


def _read(path, limit=1 << 16):
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _open_files(pid):
    """[path, opened for writing] for each regular file the process holds open."""
    out = []
    base = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(base)
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(os.path.join(base, fd))
        except OSError:
            continue
        if not target.startswith("/") or target.endswith(" (deleted)"):
            continue  # sockets, pipes, anon inodes; files already deleted
        flags = 0
        info = _read(f"/proc/{pid}/fdinfo/{fd}", 4096)
        if info:
            for line in info.decode("ascii", "replace").splitlines():
                if line.startswith("flags:"):
                    flags = int(line.split()[1], 8)
        out.append([target, 1 if flags & 3 else 0])  # O_WRONLY | O_RDWR
    return out


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _detail(pid, row):
    try:
        row["cwd"] = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        row["cwd"] = None
    cmd = _read(f"/proc/{pid}/cmdline") or b""
    row["cmdline"] = [a.decode("utf-8", "replace") for a in cmd.split(b"\0") if a]
    row["files"] = _open_files(pid)
    env = _read(f"/proc/{pid}/environ", 1 << 20) or b""
    for var in env.split(b"\0"):
        if var.startswith(b"SLURM_JOB_ID="):
            row["slurm_job"] = var.split(b"=", 1)[1].decode("ascii", "replace")
    cg = _read(f"/proc/{pid}/cgroup", 8192) or b""
    for line in cg.decode("utf-8", "replace").splitlines():
        if "/job_" in line and "slurm" in line:
            row.setdefault("slurm_job", line.split("/job_", 1)[1].split("/")[0])


def _related(row, roots):
    if _under(row.get("cwd") or "", roots) or any(_under(f, roots) for f, _ in row["files"]):
        return True
    for arg in row["cmdline"]:
        for piece in arg.split("="):
            if "/" in piece and _under(os.path.normpath(os.path.join(row["cwd"] or "/", piece)),
                                       roots):
                return True
    return False


def _host_cpu():
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return [sum(ticks) - idle, sum(ticks)]


def op_procs(req):
    """Facts about processes. `pids`: those (each answered, null when gone), with
    `descendants` every process below them too; `under`: every process related to one of
    those folders (a file open, the working folder, a path on its command line), with
    `detail` (cwd, command line, open files, the Slurm job from its environment or cgroup)."""
    pids, roots = req.get("pids"), req.get("under")
    detail = req.get("detail", False) or roots is not None
    everyone = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    rows = {}  # type: dict
    stats = {}  # type: dict
    if pids is None or req.get("descendants"):
        for pid in everyone:
            try:
                stats[pid] = _proc_stat(pid)
            except (OSError, ValueError, IndexError):
                continue
    wanted = set(everyone if pids is None else pids)
    if pids is not None and req.get("descendants"):
        children = {}  # type: dict
        for pid, st in stats.items():
            children.setdefault(st["ppid"], []).append(pid)
        todo = list(wanted)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in wanted:
                    wanted.add(child)
                    todo.append(child)
    for pid in wanted:
        row = stats.get(pid)
        if row is None:
            try:
                row = _proc_stat(pid)
            except (OSError, ValueError, IndexError):
                rows[str(pid)] = None
                continue
        if detail and row["state"] != "Z":
            _detail(pid, row)
            if roots is not None and not _related(row, roots):
                continue
        elif roots is not None:
            continue
        rows[str(pid)] = row
    return {"procs": rows, "now": time.time(), "cpus": os.cpu_count(), "cpu": _host_cpu()}


# ---- commands ------------------------------------------------------------------------------
def _spawn(req):
    """The command's process, or None after answering why it could not start."""
    try:
        return subprocess.Popen(req["argv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
    except OSError as e:
        send({"id": req["id"], "err": [e.errno or 0, "{}: {}".format(req["argv"][0], e.strerror)]})
        return None


def op_run(req):
    """A command run once, in its own thread (squeue can take seconds)."""
    rid = req["id"]

    def work():
        p = _spawn(req)
        if p is None:
            return
        try:
            out, err = p.communicate(timeout=req.get("timeout_s", 30))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            send({"id": rid, "err": [110, "{} timed out".format(req["argv"][0])]})
            return
        send({"id": rid, "rc": p.returncode, "stderr": err[-4000:].decode("utf-8", "replace")},
             out)

    threading.Thread(target=work, daemon=True).start()


def op_stream(req):
    """A long-running command whose stdout lines are sent as they come, until it ends or
    is cancelled."""
    rid = req["id"]
    p = _spawn(req)
    if p is None:
        return
    streams[rid] = p

    def pump():
        out, errs = p.stdout, p.stderr
        assert out is not None and errs is not None
        for line in iter(out.readline, b""):
            send({"id": rid, "more": True}, line)
        err = errs.read()[-4000:].decode("utf-8", "replace")
        rc = p.wait()
        streams.pop(rid, None)
        send({"id": rid, "rc": rc, "stderr": err})

    threading.Thread(target=pump, daemon=True).start()


def op_cancel(req):
    p = streams.pop(req["target"], None)
    if p is not None and p.poll() is None:
        p.terminate()
    return {}


OPS = {"walk": op_walk, "stat": op_stat, "open": op_open, "read": op_read, "close": op_close,
       "head": op_head, "poll": op_poll, "hello": op_hello, "procs": op_procs}
ASYNC = {"run": op_run, "stream": op_stream}


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    with WRITE:
        OUT.write(MAGIC)
        OUT.flush()
    while True:
        try:
            length, jlen = struct.unpack(">II", read_exact(8))
            req = json.loads(read_exact(jlen).decode())
            read_exact(length - 4 - jlen)  # requests carry no blob today
        except EOFError:
            break
        rid, op = req.get("id"), req.get("op")
        if op in ASYNC:
            ASYNC[op](req)
            continue
        if op == "cancel":
            op_cancel(req)
            continue
        try:
            result = OPS[op](req)
        except OSError as e:
            send({"id": rid, "err": err_row(e)[1:]})
            continue
        except Exception as e:  # a bug here must answer, not hang the client
            send({"id": rid, "err": [0, f"{type(e).__name__}: {e}"]})
            continue
        msg, blob = result if isinstance(result, tuple) else (result, b"")
        msg["id"] = rid
        send(msg, blob)
    for p in list(streams.values()):
        if p.poll() is None:
            p.terminate()


if __name__ == "__main__":
    main()
