"""Where a watched folder's bytes come from: one seam (list, stat, read from offset) that
followers, discovery and format sniffing use, so readers never learn where bytes live.

Local files today (`LOCAL`); an SSH host or a bucket offers the same `ByteSource` protocol.
"""

from cockpit.sources.base import ByteSource, FileStat, OpenFile
from cockpit.sources.local import LOCAL, LocalFiles

__all__ = ["LOCAL", "ByteSource", "FileStat", "LocalFiles", "OpenFile"]
