"""Runs on SSH hosts: the system `ssh` binary, one connection per host carrying a small
stdlib helper that reads files, /proc and commands for Cockpit (nothing is installed).

`SshTarget` names a host, `ssh_host()` gives its one shared connection, `ssh_files()` its
files as a ByteSource.
"""

from cockpit.sources.ssh.files import SshFiles, close_files, ssh_files
from cockpit.sources.ssh.host import SshHost, close_hosts, ssh_host
from cockpit.sources.ssh.target import BadSshUrl, SshTarget, parse_ssh_url

__all__ = ["BadSshUrl", "SshFiles", "SshHost", "SshTarget", "close_all", "parse_ssh_url",
           "ssh_files", "ssh_host"]


def close_all() -> None:
    """Stop polling and close every SSH connection this process opened."""
    close_files()
    close_hosts()
