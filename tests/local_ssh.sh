#!/bin/sh
# A stand-in for `ssh` where no sshd can run (COCKPIT_SSH points here): it ignores the options,
# drops `-- host`, and runs the remote command on this machine, as sshd would hand it to the
# login shell. With LOCAL_SSH_BANNER set it first prints what a chatty login script prints.
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done
shift 2
if [ -n "$LOCAL_SSH_BANNER" ]; then echo "$LOCAL_SSH_BANNER"; fi
exec sh -c "$1"
