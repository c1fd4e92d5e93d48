#!/usr/bin/env python3
"""A stand-in for Slurm's `squeue` and `sacct` on the tests' "remote" host (installed under
both names in the sshd's PATH; it answers as the name it was called by).

It prints the job table in slurm.json beside it in Slurm's own parsable output for the
options Cockpit uses: `squeue --me -h -o "%i|%T|%Z|%j|%r"` (one `|`-separated line per job,
no header) and `sacct -n -P -X -o JobIDRaw,State,ExitCode,WorkDir,JobName,End -j IDS`
(`|`-separated, no header; State as sacct words it, e.g. "CANCELLED by 1000"; ExitCode as
`code:signal`; End as ISO time or "Unknown"). A test double: the test writes slurm.json.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SQUEUE = {"%i": "id", "%T": "state", "%Z": "work_dir", "%j": "name", "%r": "reason"}
SACCT = {"JobIDRaw": "id", "JobID": "id", "State": "state", "ExitCode": "exit",
         "WorkDir": "work_dir", "JobName": "name", "End": "end"}


def main():
    with open(os.path.join(HERE, "slurm.json")) as f:
        table = json.load(f)
    args = sys.argv[1:]
    me = os.path.basename(sys.argv[0])
    if me == "squeue":
        fmt = args[args.index("-o") + 1]
        fields = fmt.split("|")
        if "-h" not in args or any(f not in SQUEUE for f in fields):
            print("squeue: this fake answers -h -o with %i %T %Z %j %r", file=sys.stderr)
            return 1
        for job in table.get("queue", []):
            print("|".join(str(job.get(SQUEUE[f], "")) for f in fields))
        return 0
    if me == "sacct":
        fields = args[args.index("-o") + 1].split(",")
        wanted = set(args[args.index("-j") + 1].split(",")) if "-j" in args else None
        for job in table.get("acct", []):
            if wanted is None or str(job["id"]) in wanted:
                row = dict(job, exit=job.get("exit", "0:0"), end=job.get("end", "Unknown"))
                print("|".join(str(row.get(SACCT[f], "")) for f in fields))
                # sacct -X hides the steps; this fake prints one anyway when asked without -X
                if "-X" not in args:
                    print("|".join(str(row.get(SACCT[f], "")) if f != "JobIDRaw"
                                   else f"{job['id']}.batch" for f in fields))
        return 0
    print(f"{me}: unknown command", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
