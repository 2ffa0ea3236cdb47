# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YARA rules run over every file of a guest file system served read-only by libguestfs: the
appliance streams the file system as a tar (one call, not one per file) into a pipe this side
reads, and each regular file up to a size limit is matched in memory. Nothing is written to the
disk or the point. No Ansible imports.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from typing import List

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import VadpError
from ansible_collections.vadp.vsphere.plugins.module_utils._export.guest_files import GuestFilesError

_DISTRO_PACKAGES = "/usr/lib/python3/dist-packages"  # Debian's python3-yara, for a virtual environment without yara-python


class YaraMissingError(VadpError):
    error_code = "YARA_MISSING"


class YaraRulesError(VadpError):
    error_code = "YARA_RULES_INVALID"


def _import_yara():
    try:
        import yara
    except ImportError:
        if not os.path.isdir(_DISTRO_PACKAGES) or _DISTRO_PACKAGES in sys.path:
            raise YaraMissingError("YARA's Python binding is not installed for this Python (pip install yara-python; "
                                   "Debian, Ubuntu: apt-get install python3-yara)")
        sys.path.append(_DISTRO_PACKAGES)
        return _import_yara()
    return yara


def compile_rules(path: str):
    """A rules file, or a folder of them (*.yar, *.yara, each its own namespace)."""
    yara = _import_yara()
    if os.path.isdir(path):
        files = {name: os.path.join(path, name) for name in sorted(os.listdir(path)) if name.endswith((".yar", ".yara"))}
        if not files:
            raise YaraRulesError("%s holds no .yar or .yara file" % path)
    elif os.path.isfile(path):
        files = None
    else:
        raise YaraRulesError("rules %s: no such file or folder" % path)
    try:
        return yara.compile(filepaths=files) if files else yara.compile(filepath=path)
    except yara.Error as exc:
        raise YaraRulesError("the rules in %s do not compile: %s" % (path, exc))


class ScanTally:
    def __init__(self):
        self.matches: List[dict] = []
        self.files = self.bytes = 0
        self.skipped_large: List[str] = []
        self.complete = True
        self.seconds = 0.0  # reading and matching, without starting exports and libguestfs


def scan_mounted(guestfs, rules, filesystem: str, max_file_bytes: int, deadline: float, tally: ScanTally) -> None:
    """Scan the file system mounted at the appliance's /; stops (tally.complete false) at deadline
    (time.monotonic)."""
    yara = _import_yara()
    folder = tempfile.mkdtemp(prefix="vadp-scan-")
    pipe = os.path.join(folder, "fs.tar")
    os.mkfifo(pipe, 0o600)
    failure: List[BaseException] = []

    def stream():
        try:
            guestfs.tar_out("/", pipe, numericowner=True)
        except RuntimeError as exc:
            failure.append(exc)
        finally:
            try:  # a tar_out that failed before it opened the pipe leaves the reader waiting in open: end that
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader waits

    writer = threading.Thread(target=stream, name="guestfs-tar-out", daemon=True)
    started = time.monotonic()
    writer.start()
    try:
        with open(pipe, "rb") as source, _tar_stream(source, failure) as archive:
            for member in archive:
                if time.monotonic() > deadline:
                    tally.complete = False
                    break  # closing the pipe ends tar_out with an error the scan expects
                if not member.isreg():
                    continue
                path = "/" + member.name.lstrip("./")
                if member.size > max_file_bytes:
                    tally.skipped_large.append(path)
                    continue
                data = archive.extractfile(member).read()
                tally.files += 1
                tally.bytes += len(data)
                try:
                    found = rules.match(data=data, timeout=max(1, int(deadline - time.monotonic())))
                except yara.TimeoutError:
                    tally.complete = False
                    break
                if found:
                    tally.matches.append({"filesystem": filesystem, "path": path, "size": member.size,
                                          "rules": sorted({"%s:%s" % (m.namespace, m.rule) if m.namespace != "default" else m.rule
                                                           for m in found})})
            if tally.complete:
                while source.read(1 << 20):
                    pass  # tar's end blocks and padding: closing before them would fail the appliance's write
    finally:
        writer.join()
        tally.seconds += time.monotonic() - started
        shutil.rmtree(folder, ignore_errors=True)
    if failure and tally.complete:
        raise GuestFilesError("libguestfs could not stream file system %s: %s" % (filesystem, failure[0]))


def _tar_stream(source, failure: List[BaseException]):
    try:
        return tarfile.open(fileobj=source, mode="r|")
    except tarfile.ReadError as exc:  # nothing came: tar_out failed, and says why
        raise GuestFilesError("libguestfs streamed no file system: %s" % (failure[0] if failure else exc))
