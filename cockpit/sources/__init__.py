"""Where a watched folder's bytes come from: one seam (list, stat, read from offset) that
followers, discovery and format sniffing use, so readers never learn where bytes live.

Local files (`LOCAL`), an SSH host (`cockpit.sources.ssh`) and a bucket (`cockpit.sources.objstore`)
offer the same `ByteSource` protocol; `cockpit.sources.location` turns what a user typed into one.
Where processes are seen is the sibling seam, `cockpit.sources.processes.ProcessSource`
(imported on its own: it needs psutil, which the byte path does not).
"""

from cockpit.sources.base import (
    REACHABLE,
    ByteSource,
    FileStat,
    OpenFile,
    Reachability,
    SourceUnavailable,
)
from cockpit.sources.local import LOCAL, LocalFiles

__all__ = ["LOCAL", "REACHABLE", "ByteSource", "FileStat", "LocalFiles", "OpenFile", "Reachability",
           "SourceUnavailable"]
